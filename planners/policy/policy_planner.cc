// The policy-prior planner: encode, then one policy action per observation.
#include "lucid/planners/policy_planner.h"

#include "lucid/error.h"

namespace lucid::planners {

void PolicyPlanner::allocate(int max_batch) {
  LUCID_CHECK_AS(max_batch > 0 && cfg_.action_dim > 0 && cfg_.latent_dim > 0, ConfigError)
      << "policy planner: max_batch, action_dim and latent_dim must be positive";
  max_batch_ = max_batch;
  z_ = Tensor::zeros(Shape{max_batch, cfg_.latent_dim});
  eps_ = Tensor::zeros(Shape{max_batch, cfg_.action_dim});
  out_ = Tensor::zeros(Shape{max_batch, cfg_.action_dim});
}

Tensor PolicyPlanner::plan(const models::WorldModel& model, const Tensor& obs, Rng& rng, bool eval) {
  LUCID_CHECK(max_batch_ > 0) << "policy planner: call allocate() before plan()";
  const std::int64_t b = obs.shape().rows();
  LUCID_CHECK_SHAPE(b >= 1 && b <= max_batch_)
      << "policy planner: batch " << b << " outside [1, " << max_batch_ << "]";
  LUCID_CHECK_SHAPE(model.action_dim() == cfg_.action_dim && model.latent_dim() == cfg_.latent_dim)
      << "policy planner: configured for action " << cfg_.action_dim << " / latent " << cfg_.latent_dim
      << ", model has " << model.action_dim() << " / " << model.latent_dim();
  const Tensor z = z_.view_rows(0, b), out = out_.view_rows(0, b);
  model.encode_into(obs, z);
  if (eval) {
    model.policy_action_into(z, Tensor(), out);
  } else {
    const Tensor eps = eps_.view_rows(0, b);
    rng.normal(eps.data(), static_cast<std::size_t>(eps.numel()));
    model.policy_action_into(z, eps, out);
  }
  return out;
}

}  // namespace lucid::planners
