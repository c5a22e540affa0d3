// goro/errors.hpp: the exceptions goro throws where Go panics (API.md, Errors).
#pragma once

#include <stdexcept>

namespace goro {

// A send, or close, on a closed channel ("send on closed channel", "close of closed channel").
class closed_channel_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// An operation that Go forbids on a nil channel ("close of nil channel").
class nil_channel_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace goro
