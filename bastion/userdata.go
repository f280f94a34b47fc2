package bastion

import (
	"fmt"
	"strconv"
	"strings"
)

// IdleStopVariable is the line of the user data that carries the idle
// time in seconds; the sandbox reads it as the instance would.
const IdleStopVariable = "RDSGATE_IDLE_STOP_SECONDS"

// UserData is the instance's boot script: with an idle stop, a systemd
// timer that checks every minute for Session Manager's session worker
// processes (one runs per session) and powers the instance off (an EBS
// instance stops) once none has run for the idle time. It needs no IAM
// permission: the instance decides from its own process table.
func (d Design) UserData() string {
	if d.IdleStop <= 0 {
		return "#!/bin/bash\n# rdsgate bastion: no idle stop\n"
	}
	secs := int(d.IdleStop.Seconds())
	return fmt.Sprintf(`#!/bin/bash
# rdsgate bastion: stop after %[1]s with no Session Manager session.
set -eu
%[2]s=%[3]d
install -d -m 0755 /usr/local/libexec/rdsgate
cat >/usr/local/libexec/rdsgate/idle-stop <<'SCRIPT'
#!/bin/bash
# Stops the instance when no ssm-session-worker has run for the idle time.
set -eu
idle=$(cat /etc/rdsgate/idle-stop-seconds)
mark=/run/rdsgate-last-session
if pgrep -f ssm-session-worker >/dev/null || [ ! -e "$mark" ]; then
  touch "$mark"
  exit 0
fi
if [ $(( $(date +%%s) - $(stat -c %%Y "$mark") )) -ge "$idle" ]; then
  logger -t rdsgate "no Session Manager session for ${idle}s: stopping"
  systemctl poweroff
fi
SCRIPT
chmod 0755 /usr/local/libexec/rdsgate/idle-stop
install -d -m 0755 /etc/rdsgate
echo "$%[2]s" >/etc/rdsgate/idle-stop-seconds
cat >/etc/systemd/system/rdsgate-idle-stop.service <<'UNIT'
[Unit]
Description=rdsgate bastion: stop when idle
[Service]
Type=oneshot
ExecStart=/usr/local/libexec/rdsgate/idle-stop
UNIT
cat >/etc/systemd/system/rdsgate-idle-stop.timer <<'UNIT'
[Unit]
Description=rdsgate bastion: check for sessions every minute
[Timer]
OnBootSec=1min
OnUnitActiveSec=1min
[Install]
WantedBy=timers.target
UNIT
systemctl daemon-reload
systemctl enable --now rdsgate-idle-stop.timer
`, d.IdleStop, IdleStopVariable, secs)
}

// IdleStopOf reads the idle time (seconds) from user data; 0 when none.
func IdleStopOf(userData string) int {
	for _, line := range strings.Split(userData, "\n") {
		if v, ok := strings.CutPrefix(line, IdleStopVariable+"="); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}
