"""Statistics behind the canary judge (`rollouts.judge`): pure numpy/scipy, no Django."""
