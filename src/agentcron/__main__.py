from __future__ import annotations

from agentcron.cli import main

raise SystemExit(main())
