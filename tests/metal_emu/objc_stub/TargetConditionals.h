// Stand-in for the SDK's TargetConditionals.h (see Foundation/Foundation.h).
#pragma once
#define TARGET_OS_OSX 1
