// ProfileRange (lucid/engine/profile.h): ranges reach the registered hooks in push/pop order and
// cost nothing without them. Fake hooks record the calls, as NVTX would see them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lucid/engine/autograd.h"
#include "lucid/engine/ops.h"
#include "lucid/engine/optim.h"
#include "lucid/engine/profile.h"

namespace lucid {
namespace {

std::vector<std::string> g_events;

TEST(Profile, RangesReachTheHooksInOrderAndOnlyWhenRegistered) {
  const ProfileHooks hooks{[](const char* name) { g_events.push_back(std::string("+") + name); },
                           [] { g_events.push_back("-"); }};
  ASSERT_EQ(profile_hooks(), nullptr) << "no CUDA backend registered hooks in a CPU test binary";
  {
    const ProfileRange unseen("test/unseen");  // no hooks: nothing recorded
  }
  set_profile_hooks(&hooks);
  {
    const ProfileRange outer("test/outer");
    Tensor x = Tensor::from({1.f, 2.f}, {2}).set_requires_grad();
    backward(sum(mul(x, x)));
    Tensor g = x.grad();
    clip_grad_norm(g, 1.f);
  }
  set_profile_hooks(nullptr);
  EXPECT_EQ(g_events, (std::vector<std::string>{"+test/outer", "+engine/backward", "-",
                                                "+engine/clip_grad_norm", "-", "-"}));
}

}  // namespace
}  // namespace lucid
