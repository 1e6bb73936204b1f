"""I/O: resolve, connect, TLS, and the HTTP/1.1 and HTTP/2 connections over them."""
