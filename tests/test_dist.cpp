// Distributed training: environment, shards, the W processes x B == 1
// process x W*B invariant (docs/design.md §5.9), supervision and failure handling.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "test_util.h"
#include "twist/dist.h"
#include "twist/error.h"
#include "twist/eval.h"
#include "twist/image.h"
#include "twist/loader.h"
#include "twist/train.h"

namespace {
using namespace twist::testing;

twist::DistEnv env_of(const std::map<std::string, std::string>& vars) {
  return twist::dist_env_from([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

TEST(DistEnv, NoVariablesMeansOneProcess) {
  auto e = env_of({});
  EXPECT_FALSE(e.distributed());
  EXPECT_EQ(e.rank, 0);
  EXPECT_EQ(e.world_size, 1);
  EXPECT_EQ(e.source, "");
}

TEST(DistEnv, TorchrunVariables) {
  auto e = env_of({{"RANK", "3"},
                   {"WORLD_SIZE", "8"},
                   {"LOCAL_RANK", "1"},
                   {"LOCAL_WORLD_SIZE", "2"},
                   {"MASTER_ADDR", "node7"},
                   {"MASTER_PORT", "1234"}});
  EXPECT_TRUE(e.distributed());
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.world_size, 8);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world_size, 2);
  EXPECT_EQ(e.master_addr, "node7");
  EXPECT_EQ(e.master_port, 1234);
  EXPECT_EQ(e.source, "env");
  EXPECT_FALSE(e.agent_store);
  EXPECT_TRUE(env_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"}}).agent_store);
}

TEST(DistEnv, SlurmFallbackWhenTorchrunVariablesAbsent) {
  auto e = env_of({{"SLURM_PROCID", "5"},
                   {"SLURM_NTASKS", "16"},
                   {"SLURM_LOCALID", "1"},
                   {"SLURM_NTASKS_PER_NODE", "8(x2)"},
                   {"MASTER_ADDR", "gpu01"}});
  EXPECT_EQ(e.rank, 5);
  EXPECT_EQ(e.world_size, 16);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world_size, 8);
  EXPECT_EQ(e.master_port, 29500);
  EXPECT_EQ(e.source, "slurm");
  // RANK/WORLD_SIZE win over SLURM's.
  EXPECT_EQ(env_of({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "16"}, {"RANK", "1"}, {"WORLD_SIZE", "2"}}).rank, 1);
}

TEST(DistEnv, BadValuesAreNamed) {
  auto expect_error = [](const std::map<std::string, std::string>& vars, const std::string& word) {
    try {
      env_of(vars);
      ADD_FAILURE() << "no error for " << word;
    } catch (const twist::Error& e) { EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what(); }
  };
  expect_error({{"RANK", "2"}, {"WORLD_SIZE", "2"}}, "RANK");
  expect_error({{"RANK", "x"}, {"WORLD_SIZE", "2"}}, "RANK");
  expect_error({{"RANK", "0"}}, "WORLD_SIZE");
  expect_error({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}, "MASTER_PORT");
  expect_error({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}}, "MASTER_ADDR");
}

// Every epoch: the ranks' shards are disjoint, cover the epoch's batches,
// and their union at each step is one process's global batch.
TEST(DistShards, DisjointCoveringAndEqualToTheGlobalBatch) {
  const int64_t n = 103, batch = 12;
  const int world = 3;
  const twist::EpochSampler single(n, batch, 5);
  std::vector<twist::EpochSampler> ranks;
  for (int r = 0; r < world; ++r) ranks.emplace_back(n, batch, 5, r, world);
  EXPECT_EQ(ranks[0].steps_per_epoch(), single.steps_per_epoch());
  EXPECT_EQ(ranks[0].local_batch_size(), 4);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    std::vector<std::set<int64_t>> shard(world);
    for (int64_t s = 0; s < single.steps_per_epoch(); ++s) {
      const int64_t step = epoch * single.steps_per_epoch() + s;
      std::vector<torch::Tensor> parts;
      for (int r = 0; r < world; ++r) {
        auto idx = ranks[r].indices(step);
        ASSERT_EQ(idx.numel(), 4);
        parts.push_back(idx);
        for (int64_t i = 0; i < idx.numel(); ++i) shard[r].insert(idx[i].item<int64_t>());
      }
      EXPECT_TRUE(torch::equal(torch::cat(parts), single.indices(step)));
    }
    std::set<int64_t> all;
    size_t total = 0;
    for (const auto& s : shard) {
      total += s.size();
      all.insert(s.begin(), s.end());
    }
    EXPECT_EQ(total, all.size()) << "shards overlap";
    // Covering: every image of the epoch's full batches (the permutation's
    // first steps*batch entries) is read by exactly one rank.
    auto perm = single.epoch_permutation(epoch).narrow(0, 0, single.steps_per_epoch() * batch);
    std::set<int64_t> expected;
    for (int64_t i = 0; i < perm.numel(); ++i) expected.insert(perm[i].item<int64_t>());
    EXPECT_EQ(all, expected);
  }
  EXPECT_THROW(twist::EpochSampler(100, 10, 0, 0, 3), twist::Error);  // 10 does not split into 3
  EXPECT_THROW(twist::EpochSampler(100, 4, 0, 0, 4), twist::Error);   // 1 image per rank
}

// Ranks as threads of one process: all_reduce_sum adds every rank's
// tensors once all have arrived.
class ThreadRanks {
 public:
  explicit ThreadRanks(int world) : world_(world) {}
  void all_reduce_sum(std::vector<torch::Tensor>& tensors) {
    std::unique_lock<std::mutex> lock(mu_);
    const int64_t round = round_;
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (arrived_ == 0)
        acc_.push_back(tensors[i].clone());
      else
        acc_[i] += tensors[i];
    }
    if (++arrived_ == world_) {
      done_ = acc_;
      acc_.clear();
      arrived_ = 0;
      ++round_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return round_ > round; });
    }
    for (size_t i = 0; i < tensors.size(); ++i) tensors[i].copy_(done_[i]);
  }

 private:
  const int world_;
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  int64_t round_ = 0;
  std::vector<torch::Tensor> acc_, done_;  // the round's sums so far, the last round's
};

class ThreadComm : public twist::Communicator {
 public:
  ThreadComm(ThreadRanks& ranks, int rank, int world) : ranks_(ranks), rank_(rank), world_(world) {}
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  void all_reduce_sum(std::vector<torch::Tensor>& t) override { ranks_.all_reduce_sum(t); }
  void broadcast(std::vector<torch::Tensor>&, int) override { FAIL() << "not used"; }
  void barrier() override {}
  void report_step(int64_t) override {}

 private:
  ThreadRanks& ranks_;
  const int rank_, world_;
};

// Every rank gets the union of the ranks' strings, sorted, each once;
// bytes above 127 and an empty list survive.
TEST(DistUnion, EveryRankGetsEveryRanksStrings) {
  const std::vector<std::vector<std::string>> given = {
      {"/data/b.jpg", "/data/a.jpg"},
      {},
      {"/data/a.jpg", "/data/\xC3\xA9t\xC3\xA9.jpg", "/data/long/" + std::string(300, 'x')}};
  const int world = int(given.size());
  ThreadRanks ranks(world);
  std::vector<std::vector<std::string>> got(given.size());
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      ThreadComm comm(ranks, r, world);
      got[size_t(r)] = twist::union_over_ranks(comm, given[size_t(r)]);
    });
  for (auto& t : threads) t.join();
  const std::vector<std::string> want = {"/data/a.jpg", "/data/b.jpg", "/data/long/" + std::string(300, 'x'),
                                         "/data/\xC3\xA9t\xC3\xA9.jpg"};
  for (int r = 0; r < world; ++r) EXPECT_EQ(got[size_t(r)], want) << "rank " << r;
}

// Streamed evaluation shared by 3 ranks (batches r, r + 3, ...): every
// rank's sink gets every batch's rows in order, as one process's does,
// an int64 part exactly; a file that does not decode, met by one rank, is
// an ImageError naming it on every rank.
TEST(DistEmbed, EveryRankGetsEveryBatchInOrder) {
  const int world = 3;
  twist::Dataset d;
  d.name = "tiny";
  d.images = torch::randint(0, 256, {23, 1, 4, 4}, torch::kUInt8);
  auto rows = [](const torch::Tensor& x) {
    const auto f = twist::pixel_batch_features(x);
    return std::vector<torch::Tensor>{f, f.sum(1).mul(1000).to(torch::kInt64)};
  };
  twist::StreamOptions o;
  o.batch_size = 4;  // 6 batches: two rounds, the second with a batch for every rank
  std::vector<torch::Tensor> single_f, single_i;
  twist::for_each_embedded_batch(d, 4, o, 2, rows, [&](const std::vector<torch::Tensor>& r) {
    single_f.push_back(r[0]);
    single_i.push_back(r[1]);
  });
  o.batch_size = 3;  // 8 batches: the last round has batches for two of the three ranks
  std::vector<std::vector<torch::Tensor>> got_f(world), got_i(world);
  ThreadRanks ranks(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      ThreadComm comm(ranks, r, world);
      twist::StreamOptions mine = o;
      mine.comm = &comm;
      twist::for_each_embedded_batch(d, 4, mine, 2, rows, [&](const std::vector<torch::Tensor>& b) {
        got_f[size_t(r)].push_back(b[0]);
        got_i[size_t(r)].push_back(b[1].to(torch::kInt64).reshape({-1}));
      });
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r) {
    ASSERT_EQ(got_f[size_t(r)].size(), 8U) << "rank " << r;
    EXPECT_TRUE(torch::equal(torch::cat(got_f[size_t(r)]), torch::cat(single_f))) << "rank " << r;
    EXPECT_TRUE(torch::equal(torch::cat(got_i[size_t(r)]), torch::cat(single_i))) << "rank " << r;
  }

  if (!twist::image_decoding_available()) return;
  TempDir t;
  twist::Dataset files;
  files.name = "files";
  for (int i = 0; i < 7; ++i) {
    files.files.push_back(t / ("im" + std::to_string(i) + (i == 5 ? ".jpg" : ".png")));
    write_text(files.files.back(), i == 5 ? std::string("\xFF\xD8\xFF\xE0\x00\x10JFIF", 10)
                                          : twist::encode_png(torch::full({3, 6, 6}, 40 * i, torch::kUInt8)));
  }
  files.file_side = 4;
  ThreadRanks more(world);
  std::vector<std::string> errors(world);
  threads.clear();
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      ThreadComm comm(more, r, world);
      twist::StreamOptions mine;
      mine.batch_size = 2;  // the bad file is in batch 2: rank 2's
      mine.comm = &comm;
      try {
        twist::for_each_embedded_batch(files, 4, mine, 2, rows, [](const std::vector<torch::Tensor>&) {});
      } catch (const twist::ImageError& e) { errors[size_t(r)] = e.what(); }
    });
  for (auto& th : threads) th.join();
  for (int r = 0; r < world; ++r)
    EXPECT_NE(errors[size_t(r)].find("im5.jpg"), std::string::npos) << "rank " << r << ": " << errors[size_t(r)];
}

#ifdef TWIST_DIST_TESTS

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

std::vector<torch::Tensor> load_result(const std::string& path) {
  std::vector<torch::Tensor> v;
  torch::load(v, path);
  return v;
}

double rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).norm() / b.norm().clamp_min(1e-30)).item<double>();
}

// Largest relative difference over the loss and every parameter gradient.
// The biases of the linear layers that feed a BatchNorm have gradient 0 in
// exact arithmetic (BN removes the mean): their computed gradients are
// rounding noise, compared absolutely, against 1e-6 of the whole gradient's
// norm, and counted apart.
double worst_rel_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b,
                      int* noise_tensors = nullptr) {
  EXPECT_EQ(a.size(), b.size());
  double total = 0;
  for (size_t i = 1; i < b.size(); ++i) total += b[i].pow(2).sum().item<double>();
  const double floor = 1e-6 * std::sqrt(total);
  double worst = 0;
  int noise = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (i > 0 && b[i].norm().item<double>() < floor) {
      ++noise;
      EXPECT_LT((a[i] - b[i]).norm().item<double>(), floor) << "tensor " << i;
      continue;
    }
    worst = std::max(worst, rel_diff(a[i], b[i]));
  }
  if (noise_tensors) *noise_tensors = noise;
  return worst;
}

class DistEquivalence : public ::testing::TestWithParam<int> {
 protected:
  TempDir tmp;
  // Global batch 16: one process with all of it, then 2 ranks with 8 each.
  std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> run(int views, const std::string& flags) {
    const std::string args = std::string(DIST_WORKER) + " --views " + std::to_string(views) + " --batch 16 " + flags;
    auto one = run_command(args + " --out " + tmp / "one");
    EXPECT_EQ(one.exit_code, 0) << one.output;
    auto two = run_command(std::string(TWIST_BIN) + " launch --nproc 2 -- " + args + " --out " + tmp / "two");
    EXPECT_EQ(two.exit_code, 0) << two.output;
    auto r0 = load_result(tmp / "two.rank0.pt"), r1 = load_result(tmp / "two.rank1.pt");
    // Both replicas hold the same averaged gradients.
    EXPECT_LT(worst_rel_diff(r1, r0), 1e-7);
    return {load_result(tmp / "one.rank0.pt"), r0};
  }
};

// GetParam(): views per sample (2: two-view loss; 5: 2 global + 3 local crops).
// Both sides run in float64: the sums of one process and of two ranks add
// the same numbers in different orders, which in float32 differs by up to
// about eps32 * (terms summed) ~ 1e-7 * 1e3 per tensor, more through the
// backward pass: a bound one CPU's kernels meet and another's miss. In
// float64 that rounding is ~1e-16 * 1e3, so 1e-9 leaves six orders of
// magnitude of margin while any real difference in the method (per-rank
// statistics: > 1e-3 below) stays far above it.
TEST_P(DistEquivalence, TwoRanksOfBEqualOneProcessOf2B) {
  auto [one, two] = run(GetParam(), "--float64");
  ASSERT_GT(one.size(), 10u);
  ASSERT_EQ(one[0].scalar_type(), torch::kFloat64);
  int noise = 0;
  const double worst = worst_rel_diff(two, one, &noise);
  EXPECT_LE(noise, 3);  // the 3 biases before BatchNorms at most
  EXPECT_LT(worst, 1e-9) << "loss " << one[0].item<double>() << " vs " << two[0].item<double>();
  std::printf(
      "views %d: loss %.6f (1 process) %.6f (2 ranks), worst relative difference %.2e over %zu tensors (%d of them "
      "zero up to rounding)\n",
      GetParam(), one[0].item<double>(), two[0].item<double>(), worst, one.size(), noise);
}

// The comparison can fail: per-rank NBS statistics are a different loss.
TEST_P(DistEquivalence, PerRankNbsIsDetectedAsDifferent) {
  auto [one, two] = run(GetParam(), "--nbs-per-rank");
  EXPECT_GT(worst_rel_diff(two, one), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Views, DistEquivalence, ::testing::Values(2, 5));

TEST(DistLaunch, OneFailingRankStopsTheOthers) {
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_command(std::string(TWIST_BIN) +
                       " launch --nproc 3 --grace 2 -- sh -c 'if [ \"$RANK\" = 1 ]; then sleep 0.5; exit 3; fi; "
                       "trap \"\" TERM; exec sleep 60'");
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("rank 1 (pid"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("exited with status 3"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("killing it"), std::string::npos) << r.output;  // TERM ignored: SIGKILL after grace
  EXPECT_LT(s, 15) << r.output;
}

TEST(DistLaunch, EnvironmentOfEachRank) {
  TempDir tmp;
  auto r = run_command(std::string(TWIST_BIN) + " launch --nproc 2 --master-port 29999 -- sh -c 'echo " +
                       "$RANK/$WORLD_SIZE/$LOCAL_RANK/$LOCAL_WORLD_SIZE/$MASTER_ADDR:$MASTER_PORT > " + tmp.path +
                       "/rank$RANK'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_text(tmp / "rank0"), "0/2/0/2/127.0.0.1:29999\n");
  EXPECT_EQ(read_text(tmp / "rank1"), "1/2/1/2/127.0.0.1:29999\n");
  EXPECT_EQ(run_twist("launch --nproc 0 -- true").exit_code, 1);
}

class DistTrain : public ::testing::Test {
 protected:
  TempDir tmp;
  std::string data() {
    if (!exists(tmp / "data")) {
      std::filesystem::create_directories(tmp / "data");
      write_pattern_dataset(tmp / "data", 256, 64, 4, 16);
    }
    return "--data idx:" + tmp.path + "/data";
  }
  std::string tiny() {
    return data() + " --width 0.125 --hidden 32 --classes 4 --batch-size 32 --threads 1 --local-crops 0 " +
           "--log-every 1 --warmup-epochs 0 --precision fp32";
  }
  // Two ranks train; once a checkpoint exists rank 1 gets `signal`; prints
  // rank 0's exit status and how long after the signal it ended.
  twist::testing::CommandResult signal_rank1(const std::string& signal, int timeout_s) {
    const std::string env = "MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(free_port()) + " WORLD_SIZE=2";
    const std::string cmd = std::string(TWIST_BIN) + " train " + tiny() + " --epochs 1000 --eval false " +
                            "--checkpoint-every 2 --dist-timeout " + std::to_string(timeout_s) + " --out " +
                            tmp / "run";
    return run_command("(" + env + " RANK=0 " + cmd + " & p0=$!; " + env + " RANK=1 " + cmd + " 2>/dev/null & p1=$!; " +
                       "for i in $(seq 1 600); do [ -s " + tmp / "run/checkpoint.pt" +
                       " ] && break; sleep 0.1; done; " + "kill -" + signal +
                       " $p1; t0=$(date +%s%N); wait $p0; rc=$?; t1=$(date +%s%N); kill -KILL $p1 2>/dev/null; " +
                       "echo \"rank0 rc=$rc after_ms=$(( (t1 - t0) / 1000000 ))\")");
  }
};

// Killing one of two ranks ends the other within the process-group timeout
// (here 20 s) with an error that names the dead rank; the checkpoint stays.
TEST_F(DistTrain, KillingOneRankStopsTheOtherWithItsName) {
  auto r = signal_rank1("KILL", 20);
  EXPECT_NE(r.output.find("rank0 rc=1 "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rank 1 (pid"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("died"), std::string::npos) << r.output;
  const auto at = r.output.find("after_ms=");
  ASSERT_NE(at, std::string::npos) << r.output;
  EXPECT_LT(std::stol(r.output.substr(at + 9)), 20000) << r.output;
  EXPECT_GT(twist::read_checkpoint_state(tmp / "run/checkpoint.pt").step, 0);
}

// A rank that hangs (SIGSTOP: alive, silent) ends the other within the
// process-group timeout, which names it as stopped; then it is killed.
TEST_F(DistTrain, AHangingRankStopsTheOtherWithItsName) {
  auto r = signal_rank1("STOP", 10);
  EXPECT_NE(r.output.find("rank0 rc=1 "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rank 1 (pid"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("is stopped"), std::string::npos) << r.output;
  const auto at = r.output.find("after_ms=");
  ASSERT_NE(at, std::string::npos) << r.output;
  EXPECT_LT(std::stol(r.output.substr(at + 9)), 10000 + 15000) << r.output;
}

// Under twist launch: only rank 0 writes and evaluates; a stopped run
// resumes distributed and ends where an uninterrupted one does.
TEST_F(DistTrain, LaunchWritesOnceAndResumes) {
  const std::string launch =
      std::string(TWIST_BIN) + " launch --nproc 2 -- " + TWIST_BIN + " train " + tiny() + " --epochs 2 --json --out ";
  auto whole = run_command(launch + tmp / "whole");
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  const std::string out = whole.output;
  EXPECT_EQ(out.find("\"knn_top1\""), out.rfind("\"knn_top1\"")) << "evaluated more than once: " << out;
  EXPECT_NE(out.find("\"knn_top1\""), std::string::npos) << out;
  // Both ranks embedded the evaluation's batches; the figures are those of
  // one process evaluating the same weights.
  EXPECT_NE(out.find("embedded by 2 ranks"), std::string::npos) << out;
  auto single = run_command(std::string(TWIST_BIN) + " eval knn --json --threads 1 --run " + tmp / "whole");
  ASSERT_EQ(single.exit_code, 0) << single.output;
  const auto knn_of = [](const std::string& text, const std::string& key) {
    const auto at = text.find("\"" + key + "\":");
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + key.size() + 3));
  };
  EXPECT_GT(knn_of(out, "knn_top1"), 0.0) << out;
  EXPECT_NEAR(knn_of(out, "knn_top1"), knn_of(single.output, "top1"), 1e-12) << out << single.output;
  auto part = run_command(launch + tmp / "part" + " --stop-after-steps 5");
  ASSERT_EQ(part.exit_code, 0) << part.output;
  EXPECT_FALSE(exists(tmp / "part/summary.json"));
  auto rest = run_command(std::string(TWIST_BIN) + " launch --nproc 2 -- " + TWIST_BIN +
                          " train --resume --stop-after-steps 0 --json --out " + tmp / "part");
  ASSERT_EQ(rest.exit_code, 0) << rest.output;
  auto a = twist::read_checkpoint_state(tmp / "whole/checkpoint.pt");
  auto b = twist::read_checkpoint_state(tmp / "part/checkpoint.pt");
  EXPECT_EQ(a.step, 16);
  EXPECT_EQ(a.step, b.step);
  // Same trajectory: the last metrics line's loss agrees.
  auto last_loss = [](const std::string& metrics) {
    const auto at = metrics.rfind("\"loss\":");
    return std::stod(metrics.substr(at + 7));
  };
  EXPECT_NEAR(last_loss(read_text(tmp / "whole/metrics.jsonl")), last_loss(read_text(tmp / "part/metrics.jsonl")),
              1e-5);
}

// A distributed run in bfloat16. Under autocast the sums taken inside the
// forward (the NBS statistics, the batch's mean distribution) are bf16,
// which Gloo cannot sum: the process group sums them as float32 copies.
TEST_F(DistTrain, Bf16RunTrainsOnTwoRanks) {
  auto r = run_command(std::string(TWIST_BIN) + " launch --nproc 2 -- " + TWIST_BIN + " train " + tiny() +
                       " --precision bf16 --max-steps 4 --eval false --report false --out " + tmp / "bf16");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("cpu bf16 -> "), std::string::npos) << r.output;
  EXPECT_EQ(twist::read_checkpoint_state(tmp / "bf16/checkpoint.pt").step, 4);
  const std::string metrics = read_text(tmp / "bf16/metrics.jsonl");
  const double loss = std::stod(metrics.substr(metrics.rfind("\"loss\":") + 7));
  EXPECT_TRUE(std::isfinite(loss)) << metrics;
}

// Several cluster heads under two ranks (each head's loss joins the step's
// all-reduce of the loss terms): the run completes, and its summary gives
// every head's loss and uses the lowest.
TEST_F(DistTrain, SeveralClusterHeadsTrainOnTwoRanks) {
  auto r = run_command(std::string(TWIST_BIN) + " launch --nproc 2 -- " + TWIST_BIN + " train " + tiny() +
                       " --cluster-heads 3 --max-steps 6 --report false --out " + tmp / "heads");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto s = nlohmann::json::parse(read_text(tmp / "heads/summary.json"));
  ASSERT_EQ(s["cluster_heads"].size(), 3u) << s.dump();
  size_t lowest = 0;
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_TRUE(std::isfinite(s["cluster_heads"][k]["loss"].get<double>())) << s.dump();
    if (s["cluster_heads"][k]["loss"].get<double>() < s["cluster_heads"][lowest]["loss"].get<double>()) lowest = k;
  }
  EXPECT_EQ(s["chosen_head"].get<size_t>(), lowest);
}

#endif  // TWIST_DIST_TESTS

}  // namespace
