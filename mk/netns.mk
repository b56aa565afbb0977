# make test-netns: the multi-host fault lab (scripts/netns_lab.py): ten network namespaces on one
# bridge, a build/node member in each, 5% loss on every link, then kill -9, SIGSTOP, a 5|5
# partition, a one-way fault, a lossy host, a key rotation and a rolling restart, each asserted
# and timed. Root only (CI is root): without root it says it is skipped and succeeds. Installs
# iptables from Debian's packages when it is missing. Every namespace it made is removed when it
# ends, however it ends. NETNS_ARGS: extra arguments (e.g. --json FILE).

NETNS_ARGS ?=

.PHONY: test-netns
test-netns: $(BUILD)/node
	@if [ "$$(id -u)" != 0 ]; then \
	    echo "test-netns: skipped: the lab needs root (network namespaces, iptables)"; exit 0; \
	fi; \
	if ! command -v iptables >/dev/null 2>&1; then \
	    echo "test-netns: installing iptables (Debian package)"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables; } \
	        >/dev/null 2>&1 || { echo "test-netns: FAILED: could not install iptables" >&2; exit 1; }; \
	fi; \
	python3 scripts/netns_lab.py $(NETNS_ARGS)

TEST_EXTRA += test-netns
