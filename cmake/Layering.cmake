# Layering by construction. A library's headers are reachable only through the include folder
# made for it here, <build>/views/<target>, which holds links to exactly the headers it lists,
# under their paths in the source tree ("core/model/gpt.h"). A target sees its own view and the
# views of the libraries it links PUBLIC (include folders travel with PUBLIC links), so a file that
# includes a header of a library its target does not link fails to compile. Test programs link
# gpt_test_data instead, which sees the whole tree.
#   gpt_public_headers(<target> <glob relative to the source root>...)
function(gpt_public_headers target)
  set(view "${PROJECT_BINARY_DIR}/views/${target}")
  file(REMOVE_RECURSE "${view}")  # made anew at each configure: no link outlives its header's listing
  foreach(pattern IN LISTS ARGN)
    file(GLOB headers CONFIGURE_DEPENDS RELATIVE "${PROJECT_SOURCE_DIR}" "${PROJECT_SOURCE_DIR}/${pattern}")
    if(NOT headers)
      message(FATAL_ERROR "gpt_public_headers(${target}): nothing matches ${pattern}")
    endif()
    foreach(header IN LISTS headers)
      get_filename_component(folder "${view}/${header}" DIRECTORY)
      file(MAKE_DIRECTORY "${folder}")
      file(CREATE_LINK "${PROJECT_SOURCE_DIR}/${header}" "${view}/${header}" SYMBOLIC)
    endforeach()
  endforeach()
  target_include_directories(${target} PUBLIC "${view}")
endfunction()
