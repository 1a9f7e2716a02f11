#pragma once
// A tensor's shape or strides: int64 values held inline up to rank 6, on the heap past it.
// Every op builds and copies several of these; as std::vector each copy was a heap
// allocation, and recording an op allocated about 20 times.
#include <algorithm>
#include <compare>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <vector>

namespace tl {

class Dims {
 public:
  using value_type = int64_t;
  using size_type = size_t;
  using iterator = int64_t*;
  using const_iterator = const int64_t*;

  Dims() = default;
  explicit Dims(size_t n, int64_t value = 0) { assign(n, value); }
  Dims(std::initializer_list<int64_t> v) { assign(v.begin(), v.end()); }
  template <class It>
  Dims(It first, It last) { assign(first, last); }
  Dims(const std::vector<int64_t>& v) { assign(v.begin(), v.end()); }  // NOLINT: implicit by design
  Dims(const Dims& o) { assign(o.begin(), o.end()); }
  Dims(Dims&& o) noexcept { take(o); }
  Dims& operator=(const Dims& o) {
    if (this != &o) assign(o.begin(), o.end());
    return *this;
  }
  Dims& operator=(Dims&& o) noexcept {
    if (this != &o) {
      release();
      take(o);
    }
    return *this;
  }
  ~Dims() { release(); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t* data() { return heap_ ? heap_ : inline_; }
  const int64_t* data() const { return heap_ ? heap_ : inline_; }
  int64_t& operator[](size_t i) { return data()[i]; }
  const int64_t& operator[](size_t i) const { return data()[i]; }
  int64_t* begin() { return data(); }
  int64_t* end() { return data() + size_; }
  const int64_t* begin() const { return data(); }
  const int64_t* end() const { return data() + size_; }
  std::reverse_iterator<int64_t*> rbegin() { return std::reverse_iterator<int64_t*>(end()); }
  std::reverse_iterator<int64_t*> rend() { return std::reverse_iterator<int64_t*>(begin()); }
  std::reverse_iterator<const int64_t*> rbegin() const { return std::reverse_iterator<const int64_t*>(end()); }
  std::reverse_iterator<const int64_t*> rend() const { return std::reverse_iterator<const int64_t*>(begin()); }
  int64_t& front() { return data()[0]; }
  int64_t& back() { return data()[size_ - 1]; }
  const int64_t& front() const { return data()[0]; }
  const int64_t& back() const { return data()[size_ - 1]; }

  void reserve(size_t n) {
    if (n <= capacity()) return;
    auto* p = new int64_t[n];
    std::memcpy(p, data(), size_ * sizeof(int64_t));
    delete[] heap_;
    heap_ = p;
    cap_ = n;
  }
  void resize(size_t n, int64_t value = 0) {
    reserve(n);
    std::fill(data() + std::min(n, size_), data() + n, value);
    size_ = n;
  }
  void clear() { size_ = 0; }
  void push_back(int64_t v) {
    if (size_ == capacity()) reserve(std::max<size_t>(2 * capacity(), 8));
    data()[size_++] = v;
  }
  void pop_back() { --size_; }
  void assign(size_t n, int64_t value) {
    size_ = 0;
    resize(n, value);
  }
  template <class It>
  void assign(It first, It last) {
    size_ = 0;
    reserve(size_t(std::distance(first, last)));
    for (; first != last; ++first) data()[size_++] = int64_t(*first);
  }
  int64_t* insert(const int64_t* pos, int64_t v) { return insert(pos, &v, &v + 1); }
  int64_t* insert(const int64_t* pos, std::initializer_list<int64_t> v) { return insert(pos, v.begin(), v.end()); }
  template <class It>
  int64_t* insert(const int64_t* pos, It first, It last) {
    const size_t at = size_t(pos - data()), n = size_t(std::distance(first, last));
    Dims tail(data() + at, data() + size_);  // (first..last may point into this)
    Dims mid(first, last);
    reserve(size_ + n);
    std::copy(mid.begin(), mid.end(), data() + at);
    std::copy(tail.begin(), tail.end(), data() + at + n);
    size_ += n;
    return data() + at;
  }
  int64_t* erase(const int64_t* pos) { return erase(pos, pos + 1); }
  int64_t* erase(const int64_t* first, const int64_t* last) {
    const size_t at = size_t(first - data()), n = size_t(last - first);
    std::copy(data() + at + n, data() + size_, data() + at);
    size_ -= n;
    return data() + at;
  }
  operator std::vector<int64_t>() const { return {begin(), end()}; }  // NOLINT: for APIs taking vectors

  friend bool operator==(const Dims& a, const Dims& b) {
    return a.size_ == b.size_ && std::equal(a.begin(), a.end(), b.begin());
  }
  friend auto operator<=>(const Dims& a, const Dims& b) {
    return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  static constexpr size_t kInline = 6;
  size_t capacity() const { return heap_ ? cap_ : kInline; }
  void release() {
    delete[] heap_;
    heap_ = nullptr;
    size_ = 0;
  }
  void take(Dims& o) {
    size_ = o.size_;
    heap_ = o.heap_;
    cap_ = o.cap_;
    if (!heap_) std::memcpy(inline_, o.inline_, size_ * sizeof(int64_t));
    o.heap_ = nullptr;
    o.size_ = 0;
  }

  int64_t inline_[kInline];
  int64_t* heap_ = nullptr;
  size_t size_ = 0, cap_ = 0;
};

}  // namespace tl
