#include "data/tokenizer/bpe.h"

#include <algorithm>
#include <cstdint>
#include <queue>

namespace gpt {
namespace {

// A candidate merge of the part at `left` with the part after it, as they were when queued.
struct Candidate {
  TokenId merged;  // its rank: lower merges first
  std::uint32_t left;
  TokenId left_token, right_token;  // to tell a candidate that later merges made stale
  bool operator>(const Candidate& other) const {
    return merged != other.merged ? merged > other.merged : left > other.left;
  }
};

}  // namespace

void bpe_merge(const Vocabulary& vocabulary, std::string_view piece, std::vector<TokenId>& out) {
  const auto n = static_cast<std::uint32_t>(piece.size());
  // The parts form a linked list over byte positions; a part starts at its position.
  constexpr std::uint32_t none = UINT32_MAX;
  std::vector<TokenId> token(n);
  std::vector<std::uint32_t> next(n), prev(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    token[i] = vocabulary.byte_token(static_cast<unsigned char>(piece[i]));
    next[i] = i + 1 < n ? i + 1 : none;
    prev[i] = i > 0 ? i - 1 : none;
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto offer = [&](std::uint32_t left) {
    if (left == none || next[left] == none) return;
    const std::uint32_t right = next[left];
    if (const auto merged = vocabulary.merge(token[left], token[right])) {
      queue.push({*merged, left, token[left], token[right]});
    }
  };
  for (std::uint32_t i = 0; i + 1 < n; ++i) offer(i);

  std::vector<bool> alive(n, true);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    const std::uint32_t right = next[c.left];
    // Stale: the left part was merged into its left neighbour, or either part changed since.
    if (!alive[c.left] || right == none || token[c.left] != c.left_token || token[right] != c.right_token) continue;
    token[c.left] = c.merged;
    alive[right] = false;
    next[c.left] = next[right];
    if (next[right] != none) prev[next[right]] = c.left;
    offer(prev[c.left]);
    offer(c.left);
  }
  for (std::uint32_t i = 0; i != none; i = next[i]) out.push_back(token[i]);
}

}  // namespace gpt
