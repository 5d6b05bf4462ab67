#include "dist/mpi_runtime.h"

#include <cstdlib>
#include <stdexcept>

#ifdef GPT_HAVE_MPI
#include <mpi.h>
#endif

namespace gpt {

bool MpiRuntime::available() {
#ifdef GPT_HAVE_MPI
  return true;
#else
  return false;
#endif
}

bool MpiRuntime::launched() {
  if (!available()) return false;
  // OpenMPI's mpirun, PMIx (srun --mpi=pmix, prterun), PMI-1/2 (MPICH's hydra, srun --mpi=pmi2).
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"})
    if (std::getenv(var)) return true;
  return false;
}

#ifdef GPT_HAVE_MPI

MpiRuntime::MpiRuntime(int* argc, char*** argv) {
  int provided = 0;
  // Only the main thread calls MPI; a watchdog thread never does.
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    throw std::runtime_error("MPI_Init_thread failed");
}

MpiRuntime::~MpiRuntime() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void MpiRuntime::abort(int code) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

#else

MpiRuntime::MpiRuntime(int*, char***) {
  throw std::runtime_error("this build has no MPI: install libopenmpi-dev and rebuild");
}
MpiRuntime::~MpiRuntime() = default;
void MpiRuntime::abort(int code) {
  std::_Exit(code);
}

#endif

}  // namespace gpt
