# bash completion for vnetctl: objects and verbs, netdev types and their
# option keys from the schema vnetctl carries (`vnetctl __complete`), and
# netdev ids from the running vnetd. Installed as
# share/bash-completion/completions/vnetctl.

_vnetctl_ask() {
  # $1: the vnetctl being completed; $2: its socket option, if any; rest: what to ask.
  local binary=$1 socket=$2
  shift 2
  "$binary" ${socket:+-s "$socket"} __complete "$@" 2>/dev/null
}

_vnetctl() {
  local line=${COMP_LINE:0:$COMP_POINT}
  local cur=${line##*[[:space:]]}
  local -a words
  read -r -a words <<< "${line:0:${#line}-${#cur}}"
  local binary=${words[0]} socket="" i=1
  # Global options come before the object.
  while (( i < ${#words[@]} )); do
    case ${words[i]} in
      -s|--socket) socket=${words[i+1]}; (( i += 2 )) ;;
      -j|--json) (( i++ )) ;;
      *) break ;;
    esac
  done
  local object=${words[i]} verb=${words[i+1]} nth=$(( ${#words[@]} - i ))  # words after the object's start
  local -a candidates=()
  if [[ ${words[${#words[@]}-1]} == -s || ${words[${#words[@]}-1]} == --socket ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
    return
  fi
  if (( nth == 0 )); then
    if [[ $cur == -* ]]; then
      candidates=(-s --socket -j --json -h --help --version)
    else
      candidates=(netdev link rx-filter nic announce vmm udev config vdpa events qmp)
    fi
  else
    case $object in
      netdev)
        if (( nth == 1 )); then
          candidates=(add del show)
        elif [[ $verb == add && nth -eq 2 ]]; then
          if [[ $cur != *,* ]]; then
            local type
            for type in $(_vnetctl_ask "$binary" "$socket" netdev-types); do candidates+=("$type,id="); done
          else
            local head=${cur%,*} type=${cur%%,*} key
            for key in $(_vnetctl_ask "$binary" "$socket" netdev-keys "$type"); do candidates+=("$head,$key="); done
          fi
          compopt -o nospace 2>/dev/null
        elif [[ ($verb == del || $verb == show) && nth -eq 2 ]]; then
          candidates=($(_vnetctl_ask "$binary" "$socket" ids))
        fi ;;
      link)
        case $nth in
          1) candidates=(set) ;;
          2) candidates=($(_vnetctl_ask "$binary" "$socket" ids)) ;;
          3) candidates=(up down) ;;
        esac ;;
      rx-filter)
        case $nth in
          1) candidates=(show) ;;
          2) candidates=($(_vnetctl_ask "$binary" "$socket" ids)) ;;
        esac ;;
      nic)
        case $nth in
          1) candidates=(anti-spoof) ;;
          2) candidates=($(_vnetctl_ask "$binary" "$socket" ids)) ;;
          3) candidates=(on off) ;;
          *) [[ ${words[i+3]} == on ]] && candidates=(--allow --other)
             [[ ${words[${#words[@]}-1]} == --other ]] && candidates=(allow drop) ;;
        esac ;;
      vmm)
        if (( nth == 1 )); then
          candidates=(attach detach show)
        elif [[ ($verb == attach || $verb == detach) && nth -eq 2 ]]; then
          candidates=($(_vnetctl_ask "$binary" "$socket" ids))
        elif [[ $verb == attach ]]; then
          candidates=(qmp= device= driver= bus= hotplug=)
          compopt -o nospace 2>/dev/null
        fi ;;
      announce)
        candidates=(initial= max= rounds= step= interfaces= id=)
        compopt -o nospace 2>/dev/null ;;
      config)
        if (( nth == 1 )); then
          candidates=(check)
        else
          COMPREPLY=($(compgen -f -- "$cur"))
          return
        fi ;;
      vdpa)
        if (( nth == 1 )); then
          candidates=(mgmtdev dev selftest help)
        elif (( nth == 2 )); then
          case $verb in
            mgmtdev) candidates=(show) ;;
            dev) candidates=(show add del config vstats driver) ;;
          esac
        fi ;;
    esac
  fi
  COMPREPLY=($(compgen -W "${candidates[*]}" -- "$cur"))
  # bash replaces only what follows the last of COMP_WORDBREAKS' characters
  # (= and : among them) in the word: give it the candidates from there on.
  local breaks=${COMP_WORDBREAKS//[[:space:]]/}
  if [[ -n $breaks && $cur == *["$breaks"]* ]]; then
    local prefix=${cur%"${cur##*["$breaks"]}"} n
    for n in "${!COMPREPLY[@]}"; do COMPREPLY[n]=${COMPREPLY[n]#"$prefix"}; done
  fi
}

complete -F _vnetctl vnetctl
