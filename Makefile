# Thin wrappers over scripts/ (the scripts are the source of truth).
.PHONY: setup demo test check bench
setup: ; scripts/setup.sh
demo: ; scripts/demo.sh
test: ; scripts/test.sh
check: ; scripts/check.sh
bench: ; scripts/bench.sh
