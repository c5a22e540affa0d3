// Catch2 for goro's tests, v2 or v3: tests/CMakeLists.txt defines GORO_CATCH2_V3 from the
// Catch2 it finds. Test files write `#include "catch.hpp"` and use the macros common to both
// (TEST_CASE, SECTION, REQUIRE, CHECK, GENERATE, ...).
#pragma once

#if GORO_CATCH2_V3
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif
