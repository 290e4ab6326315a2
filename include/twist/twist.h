#pragma once
// Everything of the twist library in one include.
#include "twist/augment.h"
#include "twist/config.h"
#include "twist/data.h"
#include "twist/error.h"
#include "twist/eval.h"
#include "twist/loader.h"
#include "twist/loss.h"
#include "twist/models.h"
#include "twist/optim.h"
#include "twist/progress.h"
#include "twist/train.h"
#include "twist/train_step.h"
