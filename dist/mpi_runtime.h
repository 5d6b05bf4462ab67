#pragma once
// MPI's lifetime for one process. MPI is started only when a launcher (mpirun, srun --mpi=pmix)
// started us, so a plain `train run.toml` needs no MPI daemon and behaves as one rank.
namespace gpt {

class MpiRuntime {
 public:
  // True when this build has MPI and a launcher's environment is present.
  static bool launched();
  static bool available();  // built with MPI

  MpiRuntime(int* argc, char*** argv);  // MPI_Init_thread; throws std::runtime_error without MPI
  ~MpiRuntime();                        // MPI_Finalize
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  // Ends every rank of the job with `code`: the way one failing rank brings the job down
  // instead of leaving the others blocked in a collective.
  [[noreturn]] static void abort(int code);
};

}  // namespace gpt
