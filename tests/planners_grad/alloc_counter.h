// A process-wide count of global operator new calls (alloc_counter.cc replaces operator new), so
// tests can assert that a hot loop allocates nothing.
#pragma once

namespace lucid::testing {
long long allocation_count();
}  // namespace lucid::testing
