// pubsub: goro::hub<T> broadcasts each published value to every current subscriber.
//
// Four subscribers show the choices a subscription makes:
//  - "audit" and "metrics" use overflow::block: a full buffer makes publish() wait, nothing
//    is lost; "metrics" unsubscribes half way, which closes its channel (what was already
//    buffered stays readable);
//  - "late" subscribes after two events: a hub does not replay the past;
//  - "dashboard" uses overflow::drop with a 2-slot buffer and is not read until the end:
//    once its buffer is full, further events are dropped for it alone.
//
// Each reading subscriber is a fiber that collects what it receives; main prints the
// collections after joining them, so the output does not depend on scheduling.
#include <goro/goro.hpp>

#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using hub = goro::hub<std::string>;

void print(const char* name, const std::vector<std::string>& got) {
  std::printf("%-9s got %zu:", name, got.size());
  for (const std::string& e : got) std::printf(" %s", e.c_str());
  std::printf("\n");
}

}  // namespace

int main() {
  return goro::run([] {
    hub events;
    const std::vector<std::string> published = {"login",    "search", "add-to-cart",
                                                "checkout", "pay",    "logout"};

    goro::wait_group readers;
    std::vector<std::string> got_audit, got_metrics, got_late;  // each written by one reader
    // A reader ranges over its subscription's channel until the hub (or an unsubscribe)
    // closes it. It takes the channel by value: the subscription object stays with main.
    auto start_reader = [&readers](goro::recv_chan<std::string> ch, std::vector<std::string>& out) {
      readers.go([ch, &out] {
        for (std::string e : ch) out.push_back(std::move(e));
      });
    };

    hub::subscription audit = events.subscribe(16);  // overflow::block is the default
    hub::subscription metrics = events.subscribe(16);
    hub::subscription dashboard = events.subscribe(2, hub::overflow::drop);
    hub::subscription late;  // not subscribed yet
    start_reader(audit.c(), got_audit);
    start_reader(metrics.c(), got_metrics);

    for (std::size_t i = 0; i < published.size(); ++i) {
      if (i == 2) {
        late = events.subscribe(16);
        start_reader(late.c(), got_late);
      }
      if (i == 4) metrics.unsubscribe();  // its reader ends once it drained its buffer
      // publish() returns how many subscribers took the value; a dropping subscriber with a
      // full buffer did not. For a blocking one the value is in its buffer when this returns.
      std::size_t reached = events.publish(published[i]);
      std::printf("publish %-11s -> %zu of %zu subscribers\n", published[i].c_str(), reached,
                  events.subscribers());
    }
    events.close();  // closes every remaining subscription's channel: the readers' loops end
    readers.wait();

    std::vector<std::string> got_dashboard;  // read only now, from its buffer
    for (std::string e : dashboard.c()) got_dashboard.push_back(std::move(e));

    print("audit", got_audit);
    print("metrics", got_metrics);
    print("late", got_late);
    print("dashboard", got_dashboard);
  });
}
