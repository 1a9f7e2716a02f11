#pragma once
// Library errors. Each carries a kind that the Python layer maps to the matching exception
// (ValueError, TypeError, IndexError, MemoryError, tl.DeviceError, ...). Messages name the
// offending shapes, dtypes or axes.
#include <stdexcept>
#include <string>

namespace tl {

enum class ErrorKind { Value, Type, Index, Axis, Memory, Device, NotImplemented };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& msg) : std::runtime_error(msg), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

[[noreturn]] inline void throw_value(const std::string& m) { throw Error(ErrorKind::Value, m); }
[[noreturn]] inline void throw_type(const std::string& m) { throw Error(ErrorKind::Type, m); }
[[noreturn]] inline void throw_index(const std::string& m) { throw Error(ErrorKind::Index, m); }
[[noreturn]] inline void throw_axis(const std::string& m) { throw Error(ErrorKind::Axis, m); }
[[noreturn]] inline void throw_memory(const std::string& m) { throw Error(ErrorKind::Memory, m); }
[[noreturn]] inline void throw_device(const std::string& m) { throw Error(ErrorKind::Device, m); }
[[noreturn]] inline void throw_not_implemented(const std::string& m) {
  throw Error(ErrorKind::NotImplemented, m);
}

}  // namespace tl
