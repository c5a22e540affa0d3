// goro/goro.hpp: the whole public API of goro (see API.md / docs/design.md).
#pragma once

#include "chan.hpp"      // IWYU pragma: export
#include "context.hpp"   // IWYU pragma: export
#include "debug.hpp"     // IWYU pragma: export
#include "defer.hpp"     // IWYU pragma: export
#include "errgroup.hpp"  // IWYU pragma: export
#include "errors.hpp"    // IWYU pragma: export
#include "patterns.hpp"  // IWYU pragma: export
#include "runtime.hpp"   // IWYU pragma: export
#include "select.hpp"    // IWYU pragma: export
#include "sync.hpp"      // IWYU pragma: export
#include "time.hpp"      // IWYU pragma: export
#include "trace.hpp"     // IWYU pragma: export
