// The CPU hog of the "busy" load state: a busy loop pinned to one CPU, killed by
// the runner afterwards and, should the runner die first, by PR_SET_PDEATHSIG.
// usage: hog CPU
#include "common.h"

int main(int argc, char **argv)
{
	volatile uint64_t spin = 0;

	if (argc != 2)
		return 2;
	die_with_parent();
	if (pin_self(atoi(argv[1])))
		die("pin", errno);
	for (;;)
		spin++;
}
