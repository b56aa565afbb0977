# make report [REPORT_QUICK=1] [REPORT_OUT=dir]
#
# Runs the simulator benches (examples/sim.rs) and the real-socket benches
# (examples/bench/) and writes $(REPORT_OUT) (default docs/bench/): README.md
# with the printed tables, the commands, the machine, and PNG plots.
# The full run takes a long while (the sim's N=10000 scale run needs ~15-20 GB);
# REPORT_QUICK=1 runs a reduced set (smaller N, fewer seeds, no --large; the
# join storm at N=500 with a 20 s steady window instead of N=1000 and N=2000).
# The overload section appears when the bench has an --overload mode.
# matplotlib goes into a venv under build/, nothing is installed system-wide.

REPORT_PYTHON ?= python3
REPORT_VENV   := $(BUILD)/report-venv
REPORT_OUT    ?= docs/bench

.PHONY: report
report: $(REPORT_VENV)/.ok
	CARGO="$(CARGO)" $(REPORT_VENV)/bin/python scripts/report.py \
	    $(if $(filter-out 0,$(REPORT_QUICK)),--quick) --out "$(REPORT_OUT)"

# Debian's python3 has no ensurepip without the python3-venv package: then make
# the venv without pip and install into it with the system's pip.
$(REPORT_VENV)/.ok:
	@mkdir -p $(BUILD)
	@rm -rf $(REPORT_VENV)
	$(REPORT_PYTHON) -m venv $(REPORT_VENV) || { \
	    rm -rf $(REPORT_VENV) && $(REPORT_PYTHON) -m venv --without-pip $(REPORT_VENV); }
	if [ -x $(REPORT_VENV)/bin/pip ]; then \
	    $(REPORT_VENV)/bin/python -m pip install --quiet matplotlib; \
	else \
	    $(REPORT_PYTHON) -m pip --python $(REPORT_VENV)/bin/python install --quiet matplotlib; \
	fi
	@touch $@
