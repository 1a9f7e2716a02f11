// A stand-in for the part of Foundation that src/metal/*.mm uses, declared as Apple's SDK
// declares it, so that clang can check the Objective-C++ host code on Linux with
// -fsyntax-only (tests/test_metal_host_syntax.py). Nothing here runs; a name missing here
// that the SDK has makes the check fail, never pass.
#pragma once
#include <stdint.h>

typedef unsigned long NSUInteger;
typedef long NSInteger;
typedef double CFTimeInterval;  // (CoreFoundation, which Foundation includes)
typedef signed char BOOL;
#define YES ((BOOL)1)
#define NO ((BOOL)0)
#define nil nullptr
#define NS_ENUM(type, name) enum name : type name; enum name : type
#define NS_OPTIONS(type, name) enum name : type name; enum name : type
#define NS_RETURNS_RETAINED __attribute__((ns_returns_retained))

@protocol NSObject
@end

__attribute__((objc_root_class))
@interface NSObject <NSObject>
+ (instancetype)new;
+ (instancetype)alloc;
- (instancetype)init;
@end

typedef struct {
  unsigned long state;
  id __unsafe_unretained _Nullable* _Nullable itemsPtr;
  unsigned long* _Nullable mutationsPtr;
  unsigned long extra[5];
} NSFastEnumerationState;

@protocol NSFastEnumeration
- (NSUInteger)countByEnumeratingWithState:(NSFastEnumerationState* _Nonnull)state
                                  objects:(id __unsafe_unretained _Nullable[_Nonnull])buffer
                                    count:(NSUInteger)len;
@end

@interface NSString : NSObject
+ (nullable instancetype)stringWithUTF8String:(const char* _Nonnull)nullTerminatedCString;
@property(nullable, readonly) const char* UTF8String;
@end

@interface NSError : NSObject
@property(readonly, copy) NSString* _Nonnull localizedDescription;
@end

@interface NSArray<__covariant ObjectType> : NSObject <NSFastEnumeration>
@property(readonly) NSUInteger count;
@end
