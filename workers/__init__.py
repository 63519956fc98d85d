"""The runtime of storywatch: the embedded server, RQ queues and jobs, the poller, the worker fleet."""
