// main() of goro_tests. Catch2 v2 generates it here (CATCH_CONFIG_MAIN, in this file only);
// for v3 it starts a Catch::Session. Test cases live in the *_test.cpp files.
#if GORO_CATCH2_V3
#include <catch2/catch_session.hpp>

int main(int argc, char* argv[]) {
  return Catch::Session().run(argc, argv);
}
#else
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
#endif
