"""Statistics behind the canary judge (`rollouts.judging.judge`): pure numpy/scipy, no Django."""
