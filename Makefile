# Thin wrapper: the two README commands, for those who type `make`.
.PHONY: tour test
tour:
	./run.sh tour
test:
	./run.sh test
