// The waypoint drafter of a request from the plain object that lib/action/waypointDrafterSpec.ts
// buildWaypointDrafterSpec returns (its doc comment lists the fields): JavaScript compiles the spec
// once per request, native code drafts from it on every verify call without calling back.
#pragma once

#include <napi.h>

#include <memory>

#include "vla/session.h"

namespace tv::napi {

// Validates every field (ERR_INVALID_ARGUMENT naming it) and builds a vla::WaypointDrafter that
// walks its drafts through `grammar`, the request's compiled grammar (required).
std::shared_ptr<vla::Drafter const> parseDrafterSpec(Napi::Value spec, std::shared_ptr<vla::TokenConstraint const> grammar);

}  // namespace tv::napi
