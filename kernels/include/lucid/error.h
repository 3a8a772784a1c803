// lucid::Error and LUCID_CHECK — the one error path of the library.
//
// Library code throws lucid::Error (or a subclass naming the kind of failure) carrying
// file:line, what was expected and what came. LUCID_CHECK streams the message lazily, so a
// passing check costs one branch:
//
//   LUCID_CHECK(x.dim() == 2) << "expected a 2-D tensor, got " << x.dim() << " dims";
//
// The CLI turns any lucid::Error into one line on stderr and exit status 2.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace lucid {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};
class ShapeError : public Error {
  using Error::Error;
};  // tensor shapes or sizes disagree
class IoError : public Error {
  using Error::Error;
};  // files: missing, truncated, corrupt
class ConfigError : public Error {
  using Error::Error;
};  // unknown key, wrong type, bad value
class CudaError : public Error {
  using Error::Error;
};  // a CUDA runtime / library call failed
class EnvError : public Error {
  using Error::Error;
};  // bad action, unknown task, divergence

namespace detail {
// Collects the streamed message; Thrower::operator& throws it — the idiom glog/absl use, so that
// `LUCID_CHECK(c) << a << b;` reads as one statement. The exception's text is
// "<message> (<file>:<line>, check `<cond>`)": the message first, because that is what a user
// of the CLI reads; the location after it, for whoever fixes the code.
template <typename E>
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* cond) : file_(file), line_(line), cond_(cond) {}
  template <typename T>
  CheckFailure& operator<<(const T& v) {
    os_ << v;
    return *this;
  }
  std::string message() const {
    std::ostringstream os;
    os << os_.str() << " (" << file_ << ":" << line_;
    if (cond_ && *cond_) os << ", check `" << cond_ << "`";
    os << ")";
    return os.str();
  }

 private:
  std::ostringstream os_;
  const char* file_;
  int line_;
  const char* cond_;
};
struct Thrower {
  template <typename E>
  [[noreturn]] void operator&(const CheckFailure<E>& f) const {
    throw E(f.message());
  }
};
}  // namespace detail
}  // namespace lucid

// LUCID_CHECK_AS(cond, ErrorType) << "message"; throws ErrorType when cond is false.
// A `while` rather than `if ... else` so that the macro nests inside an unbraced `if` without a
// dangling else; the loop never repeats because its body always throws.
#define LUCID_CHECK_AS(cond, E)        \
  while (__builtin_expect(!(cond), 0)) \
  ::lucid::detail::Thrower() & ::lucid::detail::CheckFailure<E>(__FILE__, __LINE__, #cond)

#define LUCID_CHECK(cond) LUCID_CHECK_AS(cond, ::lucid::Error)
#define LUCID_CHECK_SHAPE(cond) LUCID_CHECK_AS(cond, ::lucid::ShapeError)

// LUCID_FAIL(ErrorType) << "message"; always throws.
#define LUCID_FAIL(E) ::lucid::detail::Thrower() & ::lucid::detail::CheckFailure<E>(__FILE__, __LINE__, "")
