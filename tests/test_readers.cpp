// The binary CIFAR-10, CIFAR-100 and STL-10 readers on generated files:
// exact pixels (plane order, STL-10's column-major channels), labels, class
// names and split sizes; every malformed input with its message; one short
// training run on a generated CIFAR-10 directory.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"
#include "twist/data.h"
#include "twist/error.h"

namespace {

using namespace twist::testing;

// A pixel value that differs along every axis, so a swapped axis or plane
// shows: image n (over the whole split), channel c, row y, column x.
uint8_t pixel(int64_t n, int64_t c, int64_t y, int64_t x) { return uint8_t(n * 31 + c * 80 + y * 3 + x * 7); }

// Images [first, first + n) of `side` x `side` as `pixel` defines them.
torch::Tensor expected_images(int64_t first, int64_t n, int64_t side) {
  auto t = torch::empty({n, 3, side, side}, torch::kUInt8);
  auto a = t.accessor<uint8_t, 4>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < side; ++y)
        for (int64_t x = 0; x < side; ++x) a[i][c][y][x] = pixel(first + i, c, y, x);
  return t;
}

// CIFAR records of images [first, first + labels.size()): the label bytes
// (CIFAR-100: coarse = 19 - fine % 20, then fine), then R, G, B planes row by row.
std::string cifar_records(int64_t first, const std::vector<int>& labels, bool cifar100) {
  std::string out;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (cifar100) out.push_back(char(19 - labels[i] % 20));
    out.push_back(char(labels[i]));
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 32; ++y)
        for (int64_t x = 0; x < 32; ++x) out.push_back(char(pixel(first + int64_t(i), c, y, x)));
  }
  return out;
}

// STL-10 images [first, first + n): each channel column by column.
std::string stl_images(int64_t first, int64_t n) {
  std::string out;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t x = 0; x < 96; ++x)
        for (int64_t y = 0; y < 96; ++y) out.push_back(char(pixel(first + i, c, y, x)));
  return out;
}

std::string bytes(const std::vector<int>& v) { return std::string(v.begin(), v.end()); }

torch::Tensor labels_of(const std::vector<int64_t>& v) { return torch::tensor(v, torch::kInt64); }

// CIFAR-10 with batches of 2, 3, 1, 2 and 2 images and 3 test images;
// training labels 0..9 in order, test labels 9, 0, 5.
void write_cifar10(const std::string& dir) {
  const int sizes[5] = {2, 3, 1, 2, 2};
  int64_t n = 0;
  for (int b = 0; b < 5; ++b) {
    std::vector<int> labels;
    for (int i = 0; i < sizes[b]; ++i) labels.push_back(int(n + i));
    write_text(dir + "/data_batch_" + std::to_string(b + 1) + ".bin", cifar_records(n, labels, false));
    n += sizes[b];
  }
  write_text(dir + "/test_batch.bin", cifar_records(100, {9, 0, 5}, false));
}

void write_stl10(const std::string& dir) {
  write_text(dir + "/train_X.bin", stl_images(0, 2));
  write_text(dir + "/train_y.bin", bytes({1, 10}));
  write_text(dir + "/test_X.bin", stl_images(10, 3));
  write_text(dir + "/test_y.bin", bytes({3, 1, 7}));
  write_text(dir + "/unlabeled_X.bin", stl_images(20, 4));
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(Cifar10, ReadsPlanesLabelsAndClassNames) {
  TempDir d;
  write_cifar10(d.path);
  auto train = twist::load_dataset("cifar10:" + d.path);
  EXPECT_EQ(train.name, "cifar10:" + d.path + "@train");
  ASSERT_EQ(train.images.sizes(), (std::vector<int64_t>{10, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(train.images, expected_images(0, 10, 32)));
  // By hand: image 4 (batch 2, record 2), blue plane, row 5, column 6.
  EXPECT_EQ(train.images[4][2][5][6].item<int>(), (4 * 31 + 2 * 80 + 5 * 3 + 6 * 7) % 256);
  EXPECT_TRUE(torch::equal(train.labels, torch::arange(10, torch::kInt64)));
  EXPECT_EQ(train.num_classes, 10);
  ASSERT_EQ(train.class_names.size(), 10u);
  EXPECT_EQ(train.class_names[0], "airplane");
  EXPECT_EQ(train.class_names[9], "truck");

  auto test = twist::load_dataset("cifar10:" + d.path + "@test");
  EXPECT_TRUE(torch::equal(test.images, expected_images(100, 3, 32)));
  EXPECT_TRUE(torch::equal(test.labels, labels_of({9, 0, 5})));

  // batches.meta.txt as the archive has it: names, then an empty line.
  write_text(d / "batches.meta.txt", "a0\nb1\r\nc2\n\nd3\ne4\nf5\ng6\nh7\ni8\nj9 \n\n");
  auto named = twist::load_dataset("cifar10:" + d.path + "@test");
  EXPECT_EQ(named.class_names, (std::vector<std::string>{"a0", "b1", "c2", "d3", "e4", "f5", "g6", "h7", "i8", "j9"}));

  auto splits = twist::load_train_eval_splits("cifar10:" + d.path, 0);
  EXPECT_EQ(splits.train.size(), 10);
  EXPECT_EQ(splits.eval.size(), 3);
  EXPECT_EQ(splits.eval_name, "test");
  EXPECT_TRUE(twist::has_split("cifar10:" + d.path, "test"));
  std::remove((d / "test_batch.bin").c_str());
  EXPECT_FALSE(twist::has_split("cifar10:" + d.path, "test"));
  EXPECT_EQ(twist::load_train_eval_splits("cifar10:" + d.path, 0).eval.size(), 0);
}

TEST(Cifar100, KeepsTheFineLabel) {
  TempDir d;
  write_text(d / "train.bin", cifar_records(0, {0, 99, 42, 7}, true));
  write_text(d / "test.bin", cifar_records(50, {5}, true));
  auto train = twist::load_dataset("cifar100:" + d.path);
  EXPECT_TRUE(torch::equal(train.images, expected_images(0, 4, 32)));
  EXPECT_TRUE(torch::equal(train.labels, labels_of({0, 99, 42, 7})));
  EXPECT_EQ(train.num_classes, 100);
  EXPECT_TRUE(train.class_names.empty());
  auto test = twist::load_dataset("cifar100:" + d.path + "@test");
  EXPECT_TRUE(torch::equal(test.images, expected_images(50, 1, 32)));
  EXPECT_TRUE(torch::equal(test.labels, labels_of({5})));

  std::string names;
  for (int i = 0; i < 100; ++i) names += "class" + std::to_string(i) + "\n";
  write_text(d / "fine_label_names.txt", names);
  auto named = twist::load_dataset("cifar100:" + d.path);
  ASSERT_EQ(named.class_names.size(), 100u);
  EXPECT_EQ(named.class_names[99], "class99");
}

TEST(Stl10, TransposesColumnMajorChannelsAndHasFourSplits) {
  TempDir d;
  write_stl10(d.path);
  auto train = twist::load_dataset("stl10:" + d.path);  // the default: labelled train
  EXPECT_EQ(train.name, "stl10:" + d.path + "@train");
  ASSERT_EQ(train.images.sizes(), (std::vector<int64_t>{2, 3, 96, 96}));
  EXPECT_TRUE(torch::equal(train.images, expected_images(0, 2, 96)));
  // By hand: image 1, green, row 2, column 90 sits at byte 1*27648 + 1*9216 + 90*96 + 2 of the file.
  EXPECT_EQ(train.images[1][1][2][90].item<int>(), (31 + 80 + 2 * 3 + 90 * 7) % 256);
  EXPECT_EQ(uint8_t(read_text(d / "train_X.bin")[27648 + 9216 + 90 * 96 + 2]), pixel(1, 1, 2, 90));
  EXPECT_TRUE(torch::equal(train.labels, labels_of({0, 9})));  // 1..10 stored as 0..9
  EXPECT_EQ(train.num_classes, 10);
  EXPECT_EQ(train.class_names.size(), 10u);
  EXPECT_EQ(train.class_names[7], "monkey");

  auto test = twist::load_dataset("stl10:" + d.path + "@test");
  EXPECT_TRUE(torch::equal(test.images, expected_images(10, 3, 96)));
  EXPECT_TRUE(torch::equal(test.labels, labels_of({2, 0, 6})));

  auto unlabeled = twist::load_dataset("stl10:" + d.path + "@unlabeled");
  EXPECT_TRUE(torch::equal(unlabeled.images, expected_images(20, 4, 96)));
  EXPECT_FALSE(unlabeled.has_labels());
  EXPECT_EQ(unlabeled.num_classes, 0);

  auto both = twist::load_dataset("stl10:" + d.path + "@train+unlabeled");
  EXPECT_EQ(both.size(), 6);
  EXPECT_TRUE(torch::equal(both.images, torch::cat({expected_images(0, 2, 96), expected_images(20, 4, 96)})));
  EXPECT_FALSE(both.has_labels());

  // Evaluation compares labelled train with test.
  auto splits = twist::load_train_eval_splits("stl10:" + d.path, 0);
  EXPECT_EQ(splits.train.size(), 2);
  EXPECT_TRUE(splits.train.has_labels());
  EXPECT_EQ(splits.eval.size(), 3);
  // An explicit split trains on that split alone.
  auto pretrain = twist::load_train_eval_splits("stl10:" + d.path + "@train+unlabeled", 0);
  EXPECT_EQ(pretrain.train.size(), 6);
  EXPECT_EQ(pretrain.eval.size(), 0);

  write_text(d / "class_names.txt", "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n");
  EXPECT_EQ(twist::load_dataset("stl10:" + d.path).class_names[9], "j");
  EXPECT_TRUE(twist::has_split("stl10:" + d.path, "unlabeled"));
  std::remove((d / "unlabeled_X.bin").c_str());
  EXPECT_FALSE(twist::has_split("stl10:" + d.path, "unlabeled"));
  EXPECT_FALSE(twist::has_split("stl10:" + d.path, "train+unlabeled"));
  EXPECT_TRUE(twist::has_split("stl10:" + d.path, "test"));
}

TEST(Cifar, RejectsMalformedFiles) {
  TempDir d;
  const std::string spec = "cifar10:" + d.path;
  write_cifar10(d.path);
  std::remove((d / "data_batch_3.bin").c_str());
  auto e = error_of([&] { twist::load_dataset(spec); });
  EXPECT_TRUE(contains(e, "no train split in '" + d.path + "': 'data_batch_3.bin' is missing")) << e;
  EXPECT_TRUE(contains(e, "data_batch_1.bin ... data_batch_5.bin and test_batch.bin")) << e;

  write_cifar10(d.path);
  write_text(d / "test_batch.bin", cifar_records(0, {1}, false) + "x");
  e = error_of([&] { twist::load_dataset(spec + "@test"); });
  EXPECT_TRUE(contains(e, "'" + (d / "test_batch.bin") +
                              "' has 3074 bytes, not a multiple of its 3073-byte records "
                              "(1 label byte + 3072 pixel bytes)"))
      << e;

  write_text(d / "test_batch.bin", "");
  e = error_of([&] { twist::load_dataset(spec + "@test"); });
  EXPECT_TRUE(contains(e, "'" + (d / "test_batch.bin") + "' is empty; expected records of 3073 bytes")) << e;

  write_text(d / "data_batch_2.bin", cifar_records(0, {3, 10, 4}, false));
  e = error_of([&] { twist::load_dataset(spec); });
  EXPECT_TRUE(contains(e, "'" + (d / "data_batch_2.bin") + "': record 1 has label 10; expected 0 to 9")) << e;

  write_cifar10(d.path);
  write_text(d / "batches.meta.txt", "cat\ndog\n");
  e = error_of([&] { twist::load_dataset(spec); });
  EXPECT_TRUE(contains(e, "'" + (d / "batches.meta.txt") + "' has 2 class names; expected 10")) << e;

  write_text(d / "train.bin", cifar_records(0, {1, 100}, true));
  e = error_of([&] { twist::load_dataset("cifar100:" + d.path); });
  EXPECT_TRUE(contains(e, "'" + (d / "train.bin") + "': record 1 has fine label 100; expected 0 to 99")) << e;
  write_text(d / "train.bin", cifar_records(0, {1}, true).substr(1));
  e = error_of([&] { twist::load_dataset("cifar100:" + d.path); });
  EXPECT_TRUE(contains(e, "has 3073 bytes, not a multiple of its 3074-byte records (coarse and fine label")) << e;
  e = error_of([&] { twist::load_dataset("cifar100:" + d.path + "@test"); });
  EXPECT_TRUE(contains(e, "'test.bin' is missing (the CIFAR-100 binary version has train.bin and test.bin)")) << e;

  // The in-memory parser the fuzz target drives makes the same checks.
  const std::string good = cifar_records(0, {4, 2}, false);
  auto parsed = twist::parse_cifar(reinterpret_cast<const uint8_t*>(good.data()), good.size(), 1, 10, "mem");
  EXPECT_TRUE(torch::equal(parsed.images, expected_images(0, 2, 32)));
  EXPECT_TRUE(torch::equal(parsed.labels, labels_of({4, 2})));
  e = error_of([&] { twist::parse_cifar(reinterpret_cast<const uint8_t*>(good.data()), 5, 1, 10, "mem"); });
  EXPECT_TRUE(contains(e, "'mem' has 5 bytes")) << e;
}

TEST(Stl10, RejectsMalformedFiles) {
  TempDir d;
  const std::string spec = "stl10:" + d.path;
  write_stl10(d.path);
  write_text(d / "train_y.bin", bytes({1}));
  auto e = error_of([&] { twist::load_dataset(spec); });
  EXPECT_TRUE(contains(e, "'" + (d / "train_y.bin") + "' has 1 labels but '" + (d / "train_X.bin") + "' has 2 images"))
      << e;

  write_text(d / "train_y.bin", bytes({1, 11}));
  e = error_of([&] { twist::load_dataset(spec); });
  EXPECT_TRUE(contains(e, "'" + (d / "train_y.bin") + "': record 1 has label 11; expected 1 to 10")) << e;
  write_text(d / "train_y.bin", bytes({0, 1}));
  e = error_of([&] { twist::load_dataset(spec); });
  EXPECT_TRUE(contains(e, "record 0 has label 0; expected 1 to 10")) << e;

  write_text(d / "test_X.bin", stl_images(0, 1) + "xyz");
  e = error_of([&] { twist::load_dataset(spec + "@test"); });
  EXPECT_TRUE(contains(e, "'" + (d / "test_X.bin") +
                              "' has 27651 bytes, not a multiple of its 27648-byte records "
                              "(3 x 96 x 96 pixel bytes, each channel column by column)"))
      << e;
  write_text(d / "test_y.bin", "");
  write_text(d / "test_X.bin", stl_images(0, 1));
  e = error_of([&] { twist::load_dataset(spec + "@test"); });
  EXPECT_TRUE(contains(e, "'" + (d / "test_y.bin") + "' is empty")) << e;

  std::remove((d / "unlabeled_X.bin").c_str());
  e = error_of([&] { twist::load_dataset(spec + "@train+unlabeled"); });
  EXPECT_TRUE(
      contains(e, "no train+unlabeled split in '" + d.path +
                      "': 'unlabeled_X.bin' is missing (the STL-10 "
                      "binary version has train_X.bin, train_y.bin, test_X.bin, test_y.bin and unlabeled_X.bin)"))
      << e;

  e = error_of([] { twist::parse_stl10_labels(nullptr, 0, "y"); });
  EXPECT_TRUE(contains(e, "'y' is empty")) << e;
}

TEST(DataSpec, AcceptsTheBinaryKindsAndTheirSplits) {
  EXPECT_EQ(twist::parse_data_spec("cifar10:/d").kind, "cifar10");
  EXPECT_EQ(twist::parse_data_spec("cifar100:/d@test").kind, "cifar100");
  auto s = twist::parse_data_spec("stl10:/d/x@train+unlabeled");
  EXPECT_EQ(s.kind, "stl10");
  EXPECT_EQ(s.path, "/d/x");
  EXPECT_EQ(s.split, "train+unlabeled");
  EXPECT_EQ(twist::parse_data_spec("stl10:/d@unlabeled").split, "unlabeled");
  auto e = error_of([] { twist::parse_data_spec("cifar10:/d@unlabeled"); });
  EXPECT_TRUE(contains(e, "unknown split 'unlabeled' (use @train or @test)")) << e;
  e = error_of([] { twist::parse_data_spec("stl10:/d@val"); });
  EXPECT_TRUE(contains(e, "unknown split 'val' (use @train, @test, @unlabeled or @train+unlabeled)")) << e;
  e = error_of([] { twist::parse_data_spec("cifar100:"); });
  EXPECT_TRUE(contains(e, "cifar100: needs a directory, e.g. cifar100:/data/cifar100")) << e;
  e = error_of([] { twist::parse_data_spec("cifar:/d"); });
  EXPECT_TRUE(contains(e, "expected fashion-mnist, idx:DIR, cifar10:DIR, cifar100:DIR, stl10:DIR or folder:DIR")) << e;
  e = error_of([] { twist::load_dataset("stl10:/no/such/dir"); });
  EXPECT_TRUE(contains(e, "'/no/such/dir' does not exist")) << e;
}

// A few steps on 3-channel 32 x 32 images, evaluated on the test split, and
// `twist eval knn` on the run afterwards.
TEST(Cifar10, TrainsEndToEnd) {
  TempDir d;
  const std::string data = d / "cifar";
  ASSERT_EQ(run_command("mkdir -p " + data).exit_code, 0);
  for (int b = 0; b < 5; ++b) {
    std::vector<int> labels;
    for (int i = 0; i < 16; ++i) labels.push_back(i % 4);
    write_text(data + "/data_batch_" + std::to_string(b + 1) + ".bin", cifar_records(b * 16, labels, false));
  }
  write_text(data + "/test_batch.bin", cifar_records(200, {0, 1, 2, 3, 0, 1, 2, 3}, false));
  auto r = run_twist(
      "train --data cifar10:" + data +
      " --batch-size 16 --width 0.125 --hidden 32 --classes 4 --warmup-epochs 1 --max-steps 4 --precision fp32"
      " --log-every 1 --threads 2 --knn-k 3 --report false --json --out " +
      (d / "run"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "cifar10:" + data + "@train, 80 images 3x32x32")) << r.output;
  auto summary = nlohmann::json::parse(read_text(d / "run/summary.json"));
  EXPECT_EQ(summary["steps"].get<int64_t>(), 4);
  EXPECT_TRUE(summary.contains("knn_top1"));
  auto knn = run_twist("eval knn --run " + (d / "run") + " --k 3 --json");
  ASSERT_EQ(knn.exit_code, 0) << knn.output;
  EXPECT_TRUE(contains(knn.output, "\"top1\"")) << knn.output;
}

}  // namespace
