#pragma once
// Seeded random generators: every random choice in twist (augmentations,
// splits, samplers, evaluations) draws from one of these, never from
// LibTorch's global generator, so a library call does not reseed or shift
// the caller's random state.
#include <torch/torch.h>

#include <cstdint>

namespace twist {

// A CPU generator seeded deterministically from a run seed and a stream
// number; nearby (seed, stream) pairs get unrelated states.
at::Generator make_generator(uint64_t seed, uint64_t stream);

}  // namespace twist
