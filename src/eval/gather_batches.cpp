// The batches of a streamed evaluation, computed by one process or shared
// among a distributed run's ranks (for_each_embedded_batch, twist/eval.h).
#include <algorithm>

#include "twist/dist.h"
#include "twist/error.h"
#include "twist/eval.h"

namespace twist {
namespace {

using Rows = std::function<std::vector<torch::Tensor>(const torch::Tensor&)>;
using Sink = std::function<void(const std::vector<torch::Tensor>&)>;

// This rank's batch of a round: its parts side by side as float32, or the
// decoder's message where a file does not decode.
struct RankBatch {
  torch::Tensor rows;            // n x (sum of the parts' columns)
  std::vector<int64_t> columns;  // per part
  std::string error;
};

RankBatch compute(const Dataset& data, int64_t side, int64_t begin, int64_t n, size_t parts, const Rows& rows) {
  RankBatch b;
  try {
    std::vector<torch::Tensor> out = rows(eval_images(data, begin, n, side));
    check(out.size() == parts, "streamed evaluation: a batch gave the wrong number of parts");
    for (auto& t : out) {
      t = t.to(torch::kCPU, torch::kFloat32).reshape({n, -1});
      b.columns.push_back(t.size(1));
    }
    b.rows = torch::cat(out, 1);
  } catch (const ImageError& e) { b.error = e.what(); }
  return b;
}

// One round: every rank's batch (or none) to every rank, in rank order.
void gather_round(Communicator& comm, const RankBatch& mine, size_t parts, const Sink& sink) {
  const int64_t world = comm.world_size(), rank = comm.rank(), fields = 2 + int64_t(parts);
  // Per rank: rows, whether it failed, each part's columns.
  std::vector<torch::Tensor> header = {torch::zeros({world, fields}, torch::kFloat64)};
  if (mine.rows.defined()) header[0][rank][0] = mine.rows.size(0);
  if (!mine.error.empty()) header[0][rank][1] = 1;
  for (size_t p = 0; p < mine.columns.size(); ++p) header[0][rank][2 + int64_t(p)] = mine.columns[p];
  comm.all_reduce_sum(header);
  const auto h = header[0].to(torch::kInt64);
  if (h.select(1, 1).sum().item<int64_t>() > 0) {
    // Every rank throws the same error: the first, sorted, of the failing ranks' messages.
    const auto failed =
        union_over_ranks(comm, mine.error.empty() ? std::vector<std::string>{} : std::vector<std::string>{mine.error});
    throw ImageError(failed.front());
  }
  const auto columns = std::get<0>(h.narrow(1, 2, int64_t(parts)).max(0));  // a rank without a batch has none
  const int64_t width = columns.sum().item<int64_t>(), most = h.select(1, 0).max().item<int64_t>();
  std::vector<torch::Tensor> all = {torch::zeros({world, most, width}, torch::kFloat32)};
  if (mine.rows.defined()) all[0][rank].narrow(0, 0, mine.rows.size(0)).copy_(mine.rows);
  comm.all_reduce_sum(all);
  for (int64_t r = 0; r < world; ++r) {
    const int64_t n = h[r][0].item<int64_t>();
    if (n == 0) continue;
    std::vector<torch::Tensor> out;
    for (int64_t p = 0, at = 0; p < int64_t(parts); at += columns[p].item<int64_t>(), ++p)
      out.push_back(all[0][r].narrow(0, 0, n).narrow(1, at, columns[p].item<int64_t>()));
    sink(out);
  }
}

}  // namespace

void for_each_embedded_batch(const Dataset& data, int64_t side, const StreamOptions& o, size_t parts, const Rows& rows,
                             const Sink& sink) {
  check(o.batch_size >= 1, "streamed evaluation: the batch size must be at least 1");
  if (!o.comm || o.comm->world_size() == 1) {
    for_each_eval_batch(data, side, o.batch_size, [&](int64_t, const torch::Tensor& images) { sink(rows(images)); });
    return;
  }
  const int64_t n = data.size(), world = o.comm->world_size(), rank = o.comm->rank();
  const int64_t batches = (n + o.batch_size - 1) / o.batch_size, rounds = (batches + world - 1) / world;
  for (int64_t round = 0; round < rounds; ++round) {
    const int64_t b = round * world + rank;
    const RankBatch mine =
        b < batches ? compute(data, side, b * o.batch_size, std::min(o.batch_size, n - b * o.batch_size), parts, rows)
                    : RankBatch{};
    gather_round(*o.comm, mine, parts, sink);
  }
}

}  // namespace twist
