// Detecting a bad step, and when the periodic checkpoint is due.
#include <gtest/gtest.h>

#include <limits>

#include "twist/checkpoint_schedule.h"
#include "twist/nonfinite.h"

namespace {

TEST(NonFinite, Loss) {
  EXPECT_EQ(twist::nonfinite_loss(-1.5), "");
  EXPECT_EQ(twist::nonfinite_loss(std::nan("")), "the loss is NaN");
  EXPECT_EQ(twist::nonfinite_loss(-std::numeric_limits<double>::infinity()), "the loss is infinite");
}

TEST(NonFinite, GradientNamesTheParameter) {
  torch::nn::Linear net(3, 2);
  EXPECT_EQ(twist::nonfinite_gradient(net->named_parameters()), "");  // no gradients yet
  net->forward(torch::ones({4, 3})).sum().backward();
  EXPECT_EQ(twist::nonfinite_gradient(net->named_parameters()), "");
  {
    torch::NoGradGuard g;
    net->bias.grad()[1] = std::numeric_limits<float>::quiet_NaN();
  }
  EXPECT_EQ(twist::nonfinite_gradient(net->named_parameters()), "the gradient of bias is NaN");
  {
    torch::NoGradGuard g;
    net->weight.grad()[0][2] = -std::numeric_limits<float>::infinity();
  }
  // The first parameter in registration order is named.
  EXPECT_EQ(twist::nonfinite_gradient(net->named_parameters()), "the gradient of weight is infinite");
  {
    torch::NoGradGuard g;
    net->weight.grad()[0][2] = 3.4e38f;  // large but finite
    net->bias.grad()[1] = 0;
  }
  EXPECT_EQ(twist::nonfinite_gradient(net->named_parameters()), "");
}

TEST(CheckpointTimer, StepsEpochsAndMinutes) {
  // every 5 steps
  EXPECT_TRUE(twist::checkpoint_due(10, 5, 8, 0, 0));
  EXPECT_FALSE(twist::checkpoint_due(11, 5, 8, 0, 1e9));
  // 0 steps: at each epoch's end (8 steps)
  EXPECT_TRUE(twist::checkpoint_due(16, 0, 8, 0, 0));
  EXPECT_FALSE(twist::checkpoint_due(10, 0, 8, 0, 0));
  // 2 minutes: due once 120 s passed, whichever trigger comes first
  EXPECT_FALSE(twist::checkpoint_due(11, 5, 8, 2.0, 119.9));
  EXPECT_TRUE(twist::checkpoint_due(11, 5, 8, 2.0, 120.0));
  EXPECT_TRUE(twist::checkpoint_due(10, 5, 8, 2.0, 1.0));
}

}  // namespace
