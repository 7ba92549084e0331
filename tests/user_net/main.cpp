// SPDX-License-Identifier: Apache-2.0
// Catch2 main for the user-mode network tests: they start the real wisp-net-user.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
