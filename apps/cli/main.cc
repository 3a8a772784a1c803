// lucid — command-line entry point (placeholder until the CLI lands in this folder).
#include <cstdio>
int main() { std::puts("lucid"); return 0; }
