// goro/sync.hpp: Go's sync package and x/sync/semaphore: mutex, rw_mutex, cond,
// wait_group, once, semaphore (each in a header of its own). docs/sync.md.
#pragma once

#include "cond.hpp"
#include "mutex.hpp"
#include "once.hpp"
#include "rw_mutex.hpp"
#include "semaphore.hpp"
#include "wait_group.hpp"
