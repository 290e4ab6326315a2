#include "twist/loss.h"

#include "twist/error.h"

namespace twist {

torch::Tensor entropy(const torch::Tensor& p, double eps) { return -(p * (p + eps).log()).sum(1); }

torch::Tensor kl_divergence(const torch::Tensor& a, const torch::Tensor& b, double eps) {
  return (a * ((a + eps).log() - (b + eps).log())).sum(1);
}

namespace {

// What one view contributes to every pair it is in, computed once per view
// (in a distributed run each batch mean is an all-reduce): the probabilities
// the consistency term compares (`cons`) and those the entropies use
// (`sharp`; the same tensor unless the temperature applies to the entropies
// only), and the view's two entropy terms, computed at their first use.
struct ViewTerms {
  torch::Tensor cons, sharp;
  torch::Tensor sharpness;  // Eq. 3: the mean entropy of each sample's distribution
  torch::Tensor diversity;  // Eq. 4: the entropy of the batch-mean distribution
};

const torch::Tensor& sharpness_of(ViewTerms& v, const TwistLossOptions& o) {
  if (!v.sharpness.defined()) v.sharpness = entropy(v.sharp, o.eps).mean();
  return v.sharpness;
}

const torch::Tensor& diversity_of(ViewTerms& v, const TwistLossOptions& o) {
  auto mean = [&](const torch::Tensor& p) { return o.batch_mean ? o.batch_mean(p) : p.mean(0, true); };
  if (!v.diversity.defined()) v.diversity = entropy(mean(v.sharp), o.eps).squeeze(0);
  return v.diversity;
}

// One pair's terms from its two views'. The terms are built in the order
// the loss always had (the KL, then the entropies, then the batch means),
// which fixes the order autograd sums the gradients in: a two-view run's
// gradients are bit for bit those of the loss before the views' terms were
// shared.
TwistLossTerms pair_terms(ViewTerms& a, ViewTerms& b, const TwistLossOptions& o) {
  TwistLossTerms t;
  const torch::Tensor &c1 = a.cons, &c2 = b.cons;
  // Eq. 2: symmetric KL between the twin class distributions of each sample.
  t.consistency = 0.5 * (kl_divergence(c1, c2, o.eps).mean() + kl_divergence(c2, c1, o.eps).mean());
  t.sharpness = 0.5 * (sharpness_of(a, o) + sharpness_of(b, o));
  t.diversity = 0.5 * (diversity_of(a, o) + diversity_of(b, o));
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
  ViewTerms a{p1, p1, {}, {}}, b{p2, p2, {}, {}};
  return pair_terms(a, b, o);
}

int twist_pair_count(int n_views) { return 1 + 2 * (n_views - 2); }

TwistLossTerms twist_loss(const std::vector<torch::Tensor>& logits, const TwistLossOptions& o) {
  check(logits.size() >= 2, "twist_loss needs at least 2 views, got " + std::to_string(logits.size()));
  check(o.temperature > 0, "twist_loss: temperature must be positive");
  std::vector<ViewTerms> views;
  views.reserve(logits.size());
  for (const auto& l : logits) {
    check(l.dim() == 2 && l.size(0) == logits[0].size(0) && l.size(1) == logits[0].size(1),
          "twist_loss: every view's logits must be B x C with the same B and C");
    const torch::Tensor sharp = torch::softmax(l / o.temperature, 1);
    views.push_back({consistency_probs(l, sharp, o), sharp, {}, {}});
  }
  TwistLossTerms sum = pair_terms(views[0], views[1], o);
  for (int g = 0; g < 2; ++g) {
    for (size_t j = 2; j < views.size(); ++j) {
      TwistLossTerms t = pair_terms(views[g], views[j], o);
      sum.total = sum.total + t.total;
      sum.consistency = sum.consistency + t.consistency;
      sum.sharpness = sum.sharpness + t.sharpness;
      sum.diversity = sum.diversity + t.diversity;
    }
  }
  const double n = twist_pair_count(static_cast<int>(views.size()));
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
