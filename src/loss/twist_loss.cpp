#include "twist/loss.h"

#include "twist/error.h"

namespace twist {

torch::Tensor entropy(const torch::Tensor& p, double eps) { return -(p * (p + eps).log()).sum(1); }

torch::Tensor kl_divergence(const torch::Tensor& a, const torch::Tensor& b, double eps) {
  return (a * ((a + eps).log() - (b + eps).log())).sum(1);
}

namespace {

// One pair's terms: the consistency on (c1, c2), the entropies on (s1, s2);
// the same tensors unless the temperature applies to the entropies only.
TwistLossTerms pair_terms(const torch::Tensor& c1, const torch::Tensor& c2, const torch::Tensor& s1,
                          const torch::Tensor& s2, const TwistLossOptions& o) {
  TwistLossTerms t;
  // Eq. 2: symmetric KL between the twin class distributions of each sample.
  t.consistency = 0.5 * (kl_divergence(c1, c2, o.eps).mean() + kl_divergence(c2, c1, o.eps).mean());
  // Eq. 3: each sample's distribution should be sharp (low entropy).
  t.sharpness = 0.5 * (entropy(s1, o.eps).mean() + entropy(s2, o.eps).mean());
  // Eq. 4: the batch-mean distribution should be diverse (high entropy).
  auto mean = [&](const torch::Tensor& p) { return o.batch_mean ? o.batch_mean(p) : p.mean(0, true); };
  t.diversity = 0.5 * (entropy(mean(s1), o.eps).squeeze(0) + entropy(mean(s2), o.eps).squeeze(0));
  t.total = t.consistency + o.alpha * t.sharpness - o.beta * t.diversity;
  return t;
}

// The probabilities the consistency term compares: softmax(z / tau), or
// softmax(z) where the temperature applies to the entropies only.
torch::Tensor consistency_probs(const torch::Tensor& logits, const torch::Tensor& sharp, const TwistLossOptions& o) {
  return o.temperature_on_consistency || o.temperature == 1.0 ? sharp : torch::softmax(logits, 1);
}

}  // namespace

TwistLossTerms twist_pair_loss(const torch::Tensor& p1, const torch::Tensor& p2, const TwistLossOptions& o) {
  return pair_terms(p1, p2, p1, p2, o);
}

int twist_pair_count(int n_views) { return 1 + 2 * (n_views - 2); }

TwistLossTerms twist_loss(const std::vector<torch::Tensor>& logits, const TwistLossOptions& o) {
  check(logits.size() >= 2, "twist_loss needs at least 2 views, got " + std::to_string(logits.size()));
  check(o.temperature > 0, "twist_loss: temperature must be positive");
  std::vector<torch::Tensor> probs, cons;
  probs.reserve(logits.size());
  for (const auto& l : logits) {
    check(l.dim() == 2 && l.size(0) == logits[0].size(0) && l.size(1) == logits[0].size(1),
          "twist_loss: every view's logits must be B x C with the same B and C");
    probs.push_back(torch::softmax(l / o.temperature, 1));
    cons.push_back(consistency_probs(l, probs.back(), o));
  }
  TwistLossTerms sum = pair_terms(cons[0], cons[1], probs[0], probs[1], o);
  for (int g = 0; g < 2; ++g) {
    for (size_t j = 2; j < probs.size(); ++j) {
      TwistLossTerms t = pair_terms(cons[g], cons[j], probs[g], probs[j], o);
      sum.total = sum.total + t.total;
      sum.consistency = sum.consistency + t.consistency;
      sum.sharpness = sum.sharpness + t.sharpness;
      sum.diversity = sum.diversity + t.diversity;
    }
  }
  const double n = twist_pair_count(static_cast<int>(probs.size()));
  return {sum.total / n, sum.consistency / n, sum.sharpness / n, sum.diversity / n};
}

TwistLossTerms twist_teacher_loss(const std::vector<torch::Tensor>& teacher_logits,
                                  const std::vector<torch::Tensor>& student_logits, const TwistLossOptions& o) {
  check(teacher_logits.size() >= 1 && teacher_logits.size() <= student_logits.size(),
        "twist_teacher_loss: the teacher sees the global views, a subset of the student's");
  check(o.temperature > 0, "twist_teacher_loss: temperature must be positive");
  std::vector<torch::Tensor> ps, pt, cs;
  for (const auto& l : student_logits) {
    check(l.dim() == 2 && l.sizes() == student_logits[0].sizes(),
          "twist_teacher_loss: every view's logits must be B x C with the same B and C");
    ps.push_back(torch::softmax(l / o.temperature, 1));
    cs.push_back(consistency_probs(l, ps.back(), o));
  }
  for (const auto& l : teacher_logits) {
    check(l.sizes() == student_logits[0].sizes(), "twist_teacher_loss: teacher and student logits differ in shape");
    const auto d = l.detach();
    pt.push_back(o.temperature_on_consistency ? torch::softmax(d / o.temperature, 1) : torch::softmax(d, 1));
  }
  auto mean = [&](const torch::Tensor& p) { return o.batch_mean ? o.batch_mean(p) : p.mean(0, true); };
  // Eq. 5: the teacher's distribution of global view t is the target of every
  // other student view s (KL(teacher || student)); sharpness and diversity
  // are the student's, averaged over its views.
  torch::Tensor consistency;
  int pairs = 0;
  for (size_t t = 0; t < pt.size(); ++t)
    for (size_t s = 0; s < ps.size(); ++s) {
      if (s == t) continue;
      auto kl = kl_divergence(pt[t], cs[s], o.eps).mean();
      consistency = pairs++ ? consistency + kl : kl;
    }
  check(pairs > 0, "twist_teacher_loss needs a student view the teacher did not see");
  torch::Tensor sharp, div;
  for (size_t s = 0; s < ps.size(); ++s) {
    auto h = entropy(ps[s], o.eps).mean();
    auto d = entropy(mean(ps[s]), o.eps).squeeze(0);
    sharp = s ? sharp + h : h;
    div = s ? div + d : d;
  }
  TwistLossTerms r;
  r.consistency = consistency / double(pairs);
  r.sharpness = sharp / double(ps.size());
  r.diversity = div / double(ps.size());
  r.total = r.consistency + o.alpha * r.sharpness - o.beta * r.diversity;
  return r;
}

}  // namespace twist
