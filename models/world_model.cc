// Allocating forms of the WorldModel queries: each sizes its result and calls the `*_into` form.
#include "lucid/models/world_model.h"

namespace lucid::models {

Tensor WorldModel::encode(const Tensor& obs) const {
  Tensor z = Tensor::empty(Shape{obs.size(0), latent_dim()});
  encode_into(obs, z);
  return z;
}

Tensor WorldModel::next(const Tensor& z, const Tensor& a) const {
  Tensor out = Tensor::empty(Shape{z.size(0), latent_dim()});
  next_into(z, a, out);
  return out;
}

Tensor WorldModel::reward(const Tensor& z, const Tensor& a) const {
  Tensor r = Tensor::empty(Shape{z.size(0), 1});
  reward_into(z, a, r);
  return r;
}

Tensor WorldModel::value(const Tensor& z, const Tensor& a, std::span<const int> heads) const {
  Tensor v = Tensor::empty(Shape{z.size(0), 1});
  value_into(z, a, heads, v);
  return v;
}

Tensor WorldModel::value_ensemble(const Tensor& z, const Tensor& a) const {
  Tensor vs = Tensor::empty(Shape{num_values(), z.size(0), 1});
  value_ensemble_into(z, a, vs);
  return vs;
}

PolicyOutput WorldModel::policy(const Tensor& z) const {
  PolicyOutput out{Tensor::empty(Shape{z.size(0), action_dim()}),
                   Tensor::empty(Shape{z.size(0), action_dim()})};
  policy_into(z, out.mean, out.log_std);
  return out;
}

}  // namespace lucid::models
