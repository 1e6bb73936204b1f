"""The built-in target server for `reusecheck serve`, `demo` and the tests."""
