"""One run's directory and what it holds: the files' names (`paths`), the record (`record`),
the config's hash and the W&B run id (`identity`), the code that made it (`code`), the
checkpoint read back (`checkpoint`), the software stack (`environment`), what to do with what a
directory already holds (`verdict`) and the lock of the process that trains it (`lock`)."""
