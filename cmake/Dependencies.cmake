# Third-party libraries, all from Debian packages (see README). Everything the CPU build needs is
# required; the GPU pieces are found when present and reported, never required.
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(tomlplusplus REQUIRED)  # Debian ships a compiled library: no TOML_HEADER_ONLY
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)

# oneDNN gives the CPU backend its AVX-512 sgemm; without it a plain loop matmul is used.
find_package(dnnl CONFIG QUIET)
if(dnnl_FOUND)
  message(STATUS "oneDNN ${dnnl_VERSION}: CPU matmuls use dnnl_sgemm")
else()
  message(WARNING "oneDNN not found: CPU matmuls fall back to plain loops (slow)")
endif()

# CUDA toolkit, cuBLASLt and NCCL, for the CUDA backend. Only the runtime API is linked (never
# libcuda), so binaries start on machines without a driver.
find_package(CUDAToolkit QUIET)
if(CUDAToolkit_FOUND)
  find_library(GPT_NCCL_LIBRARY nccl HINTS "${CUDAToolkit_LIBRARY_ROOT}/lib" "${CUDAToolkit_LIBRARY_DIR}"
               "${CUDAToolkit_TARGET_DIR}/lib")
  find_path(GPT_NCCL_INCLUDE nccl.h HINTS "${CUDAToolkit_INCLUDE_DIRS}")
  set(_lt "no")
  if(TARGET CUDA::cublasLt)
    set(_lt "yes")
  endif()
  message(STATUS "CUDA ${CUDAToolkit_VERSION}: cuBLASLt ${_lt}, NCCL ${GPT_NCCL_LIBRARY}")
else()
  message(STATUS "CUDA toolkit not found: CPU backend only")
endif()
