# Third-party libraries. Normally Debian's packages (see README). With GPT_STAGED_DEPS pointing at
# the folder tests/gpu/stage.sh fills, header-only toml++, nlohmann-json and CLI11 and the
# GoogleTest sources come from there instead and system packages are ignored: that is how the
# bare GPU machine builds, and how we prove here that it can.
set(GPT_STAGED_DEPS "" CACHE PATH "Folder made by tests/gpu/stage.sh; empty: use system packages")

find_package(OpenMP REQUIRED COMPONENTS CXX)

if(GPT_STAGED_DEPS)
  if(NOT EXISTS "${GPT_STAGED_DEPS}/include/toml++/toml.h")
    message(FATAL_ERROR "GPT_STAGED_DEPS=${GPT_STAGED_DEPS} has no include/toml++: run tests/gpu/stage.sh")
  endif()
  message(STATUS "Using staged dependencies from ${GPT_STAGED_DEPS}; system packages ignored")
  add_library(gpt_staged_headers INTERFACE)
  target_include_directories(gpt_staged_headers SYSTEM BEFORE INTERFACE "${GPT_STAGED_DEPS}/include")
  add_library(gpt_staged_toml INTERFACE)
  target_link_libraries(gpt_staged_toml INTERFACE gpt_staged_headers)
  target_compile_definitions(gpt_staged_toml INTERFACE TOML_HEADER_ONLY=1)
  add_library(tomlplusplus::tomlplusplus ALIAS gpt_staged_toml)
  add_library(nlohmann_json::nlohmann_json ALIAS gpt_staged_headers)
  add_library(CLI11::CLI11 ALIAS gpt_staged_headers)
  set(dnnl_FOUND FALSE)
  if(GPT_BUILD_TESTS)
    set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
    # GoogleTest's own CMake defines GTest::gtest and GTest::gtest_main.
    add_subdirectory("${GPT_STAGED_DEPS}/googletest" "${CMAKE_BINARY_DIR}/googletest" EXCLUDE_FROM_ALL)
    # Third-party code: its warnings are not ours to fix, and its headers are system headers for
    # us (what add_subdirectory's SYSTEM does from CMake 3.25; the GPU machine's may be older).
    target_compile_options(gtest PRIVATE -w)
    foreach(_gtest_target gtest gtest_main gmock gmock_main)
      if(TARGET ${_gtest_target})
        get_target_property(_gtest_includes ${_gtest_target} INTERFACE_INCLUDE_DIRECTORIES)
        set_target_properties(${_gtest_target} PROPERTIES INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${_gtest_includes}")
      endif()
    endforeach()
  endif()
else()
  find_package(tomlplusplus REQUIRED)  # Debian ships a compiled library: no TOML_HEADER_ONLY
  find_package(nlohmann_json 3 REQUIRED)
  find_package(CLI11 REQUIRED)
  find_package(dnnl CONFIG QUIET)
  if(GPT_BUILD_TESTS)
    find_package(GTest REQUIRED)
  endif()
endif()

# oneDNN gives the CPU backend its AVX-512 sgemm; without it a plain loop matmul is used.
if(dnnl_FOUND)
  message(STATUS "oneDNN ${dnnl_VERSION}: CPU matmuls use dnnl_sgemm")
else()
  message(STATUS "oneDNN not used: CPU matmuls fall back to plain loops (slow, fine for op tests)")
endif()

# CUDA: the backend is built whenever nvcc is found (CI compiles it without a GPU). Only the
# runtime API and cuBLASLt are linked, never libcuda, so binaries start on machines without a
# driver.
option(GPT_CUDA "Build the CUDA backend when a CUDA compiler is found" ON)
set(GPT_HAVE_CUDA OFF)
if(GPT_CUDA)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    # C++20 as for the host code: the CUDA backend implements the op interface, whose headers use
    # C++20 (std::span). CMake up to 3.25 knows no nvcc flag for it, so name it where missing
    # (nvcc has taken -std=c++20 since CUDA 12.0).
    if(NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    endif()
    set(CMAKE_CUDA_STANDARD 20)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    # Debian 12's CMake 3.25 FindCUDAToolkit marks CUDA::nvToolsExt deprecated whenever the
    # project requires CMake >= 3.25, without checking that the target exists; CUDA 13 has no
    # libnvToolsExt, so configuring fails. Only that branch reads the variable: hide it there
    # (today's minimum, 3.22, is below it anyway; this keeps a raised minimum from failing).
    set(_gpt_min_cmake "${CMAKE_MINIMUM_REQUIRED_VERSION}")
    set(CMAKE_MINIMUM_REQUIRED_VERSION 3.24)
    find_package(CUDAToolkit REQUIRED)
    set(CMAKE_MINIMUM_REQUIRED_VERSION "${_gpt_min_cmake}")
    set(GPT_HAVE_CUDA ON)
    message(STATUS "CUDA ${CUDAToolkit_VERSION} for architectures ${CMAKE_CUDA_ARCHITECTURES}")
  else()
    message(STATUS "No CUDA compiler: CPU backend only")
  endif()
endif()

# NCCL: in the toolkit here; on the GPU machine it may come from PyTorch's nvidia-nccl package.
if(GPT_HAVE_CUDA)
  set(_nccl_hints "${CUDAToolkit_LIBRARY_ROOT}/lib" "${CUDAToolkit_LIBRARY_DIR}" "${CUDAToolkit_TARGET_DIR}/lib")
  set(_nccl_include_hints ${CUDAToolkit_INCLUDE_DIRS})
  find_program(_gpt_python NAMES python3)
  if(_gpt_python)
    execute_process(COMMAND "${_gpt_python}" -c "import nvidia.nccl, os; print(os.path.dirname(nvidia.nccl.__file__) if nvidia.nccl.__file__ else list(nvidia.nccl.__path__)[0])"
                    OUTPUT_VARIABLE _py_nccl OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(_py_nccl)
      list(APPEND _nccl_hints "${_py_nccl}/lib")
      list(APPEND _nccl_include_hints "${_py_nccl}/include")
    endif()
  endif()
  find_library(GPT_NCCL_LIBRARY NAMES nccl libnccl.so.2 HINTS ${_nccl_hints})
  find_path(GPT_NCCL_INCLUDE nccl.h HINTS ${_nccl_include_hints})
  if(GPT_NCCL_LIBRARY AND GPT_NCCL_INCLUDE)
    add_library(gpt_nccl INTERFACE)
    target_link_libraries(gpt_nccl INTERFACE "${GPT_NCCL_LIBRARY}")
    target_include_directories(gpt_nccl INTERFACE "${GPT_NCCL_INCLUDE}")
    message(STATUS "NCCL: ${GPT_NCCL_LIBRARY}")
  else()
    message(STATUS "NCCL not found: no NCCL communicator")
  endif()
endif()

# MPI (Debian's OpenMPI): CPU ranks' all-reduce and every multi-rank job's bootstrap. Optional,
# since the bare GPU machine has none; without it `train` runs one rank.
if(GPT_STAGED_DEPS)
  set(MPI_CXX_FOUND FALSE)
else()
  find_package(MPI COMPONENTS CXX QUIET)
endif()
if(MPI_CXX_FOUND)
  message(STATUS "MPI ${MPI_CXX_VERSION}: multi-rank training; mpiexec is ${MPIEXEC_EXECUTABLE}")
else()
  message(STATUS "MPI not found: single-rank training only")
endif()

# HDF5 (Debian's serial libhdf5-dev): checkpoint files. Optional, since the bare GPU machine has
# none; without it checkpoints_supported() is false and writing or reading one throws.
if(GPT_STAGED_DEPS)
  set(HDF5_FOUND FALSE)
else()
  enable_language(C)  # FindHDF5 test-compiles a C program
  find_package(HDF5 COMPONENTS C QUIET)
endif()
# libxxhash (libxxhash-dev): the checkpoint files' checksum and seal (XXH64), and the tokenizer's
# piece cache (XXH3). Checkpoints need it and HDF5.
if(NOT GPT_STAGED_DEPS)
  find_path(XXHASH_INCLUDE_DIR xxhash.h)
  find_library(XXHASH_LIBRARY xxhash)
endif()
if(XXHASH_INCLUDE_DIR AND XXHASH_LIBRARY)
  add_library(gpt_xxhash INTERFACE IMPORTED)
  target_include_directories(gpt_xxhash SYSTEM INTERFACE ${XXHASH_INCLUDE_DIR})
  target_link_libraries(gpt_xxhash INTERFACE ${XXHASH_LIBRARY})
elseif(HDF5_FOUND)
  message(STATUS "libxxhash not found (install libxxhash-dev): checkpoints disabled")
  set(HDF5_FOUND FALSE)
endif()
if(HDF5_FOUND)
  if(NOT TARGET hdf5::hdf5)  # CMake < 3.19 defines no imported target
    add_library(hdf5::hdf5 INTERFACE IMPORTED)
    target_include_directories(hdf5::hdf5 SYSTEM INTERFACE ${HDF5_C_INCLUDE_DIRS})
    target_link_libraries(hdf5::hdf5 INTERFACE ${HDF5_C_LIBRARIES})
    target_compile_definitions(hdf5::hdf5 INTERFACE ${HDF5_C_DEFINITIONS})
  endif()
  message(STATUS "HDF5 ${HDF5_VERSION}: checkpoints")
else()
  message(STATUS "HDF5 not found: this build cannot write or read checkpoints")
endif()

# PCRE2 (libpcre2-dev, its 8-bit library): the tokenizer's pre-tokenization, and so the tokenizer
# and `prepare`. Optional, since the bare GPU machine has none.
if(NOT GPT_STAGED_DEPS)
  find_path(PCRE2_INCLUDE_DIR pcre2.h)
  find_library(PCRE2_LIBRARY pcre2-8)
endif()
if(PCRE2_INCLUDE_DIR AND PCRE2_LIBRARY AND TARGET gpt_xxhash)
  add_library(gpt_pcre2 INTERFACE IMPORTED)
  target_include_directories(gpt_pcre2 SYSTEM INTERFACE ${PCRE2_INCLUDE_DIR})
  target_link_libraries(gpt_pcre2 INTERFACE ${PCRE2_LIBRARY})
  set(GPT_HAVE_TOKENIZER ON)
  message(STATUS "PCRE2: ${PCRE2_LIBRARY}: the tokenizer and prepare")
else()
  set(GPT_HAVE_TOKENIZER OFF)
  message(STATUS "PCRE2 or libxxhash not found (libpcre2-dev, libxxhash-dev): no tokenizer, no prepare")
endif()
find_package(Threads REQUIRED)
