// goro/patterns.hpp: the pipeline patterns of "Concurrency in Go", generic over T, every one
// cancellable through a goro::context (see docs/patterns.md).
//
//   or_done.hpp       send_or_done, recv_or_done, or_done
//   generator.hpp     generator, generate, repeat, repeat_fn, take
//   tee.hpp           tee
//   bridge.hpp        bridge (a channel of channels as one channel)
//   merge.hpp         merge (fan-in, via dynamic_select), or_channel
//   fan_out.hpp       fan_out (unordered), fan_out_ordered
//   parallel_map.hpp  parallel_map (bounded, errgroup error propagation)
//   batch.hpp         batch (by size or time)
//   rate_limiter.hpp  rate_limiter, every (x/time/rate)
//   heartbeat.hpp     pulse, make_heartbeat, beat_every
//   supervisor.hpp    supervise (restart a worker whose heartbeat stops)
//   first_of.hpp      first_of (replicated requests)
//   pubsub.hpp        hub (broadcast / publish-subscribe)
#pragma once

#include "patterns/batch.hpp"
#include "patterns/bridge.hpp"
#include "patterns/fan_out.hpp"
#include "patterns/first_of.hpp"
#include "patterns/generator.hpp"
#include "patterns/heartbeat.hpp"
#include "patterns/merge.hpp"
#include "patterns/or_done.hpp"
#include "patterns/parallel_map.hpp"
#include "patterns/pubsub.hpp"
#include "patterns/rate_limiter.hpp"
#include "patterns/supervisor.hpp"
#include "patterns/tee.hpp"
