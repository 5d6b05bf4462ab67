// GoogleTest under mpirun: every rank runs every test, so collectives inside a test stay
// matched; only rank 0 prints the progress, every rank prints its failures.
#include <gtest/gtest.h>
#include <mpi.h>

#include "dist/mpi_runtime.h"

int main(int argc, char** argv) {
  gpt::MpiRuntime mpi(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int failed = RUN_ALL_TESTS();
  int any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return any_failed;
}
