"""hello: the example app that ships with slipway.

Small on purpose, but it exercises what a real deploy has to get right:
compiled code in the venv (fastcount), static assets (minified at build
time), migrations that must be checked before a switch, and a /health
endpoint that reports which build is serving.
"""
