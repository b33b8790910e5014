# Dumps per-pin arrival/slew/slack (min rise, min fall, max rise, max fall; seconds) and per-edge delays of the
# timed design. Loaded by OpenStaRunner after read_liberty/read_verilog/link_design/read_sdc/read_spef.
# Lines: "P pin arr4 slew4 slack4 has_check" and "E from to role delay4"; "nan" where OpenSTA has no value.
proc worst {vals fn} { set r ""; foreach x $vals { if {abs($x) < 1e29} { if {$r eq "" || [$fn $x $r]} { set r $x } } }; if {$r eq ""} { return nan }; return $r }
proc gt {a b} { expr {$a > $b} }
proc lt {a b} { expr {$a < $b} }
set out [open $::mlnetext_dump_path w]
set clocks [concat [all_clocks] NULL]
set corner [sta::cmd_corner]
set pins {}
foreach port [get_ports *] { lappend pins [sta::find_pin [get_full_name $port]] }
set pins [concat $pins [get_pins -hierarchical *]]
foreach pin $pins {
  foreach v [sta::Pin_vertices $pin] {
    set arr {}
    foreach tr {rise fall} {
      set mins {}; set maxs {}
      foreach clk $clocks { foreach ctr {rise fall} {
        set a [$v arrivals_clk $tr $clk $ctr]
        lappend mins [lindex $a 0]; lappend maxs [lindex $a 1] } }
      lappend arr [worst $mins lt] [worst $maxs gt]
    }
    set sr [$v slews rise]; set sf [$v slews fall]
    set kr [$v slacks rise]; set kf [$v slacks fall]
    set ep 0
    # Libraries with several conditional (when) arcs between the same pins give one edge each: keep the worst per
    # (from, role) — min for early, max for late — as OpenSTA's own path search does.
    set merged [dict create]
    set it [$v in_edge_iterator]
    while {[$it has_next]} { set e [$it next]; set role [$e role]
      if {$role eq "setup" || $role eq "hold"} { set ep 1 }
      # A net without a driver makes OpenSTA connect its loads to each other; those are not signal edges.
      if {$role eq "wire" && ![sta::Pin_is_driver [[$e from] pin]]} { continue }
      set key "[get_full_name [[$e from] pin]] [string map {{ } _} $role]"
      if {[dict exists $merged $key]} { set d [dict get $merged $key] } else { set d [dict create rise,min nan fall,min nan rise,max nan fall,max nan] }
      set ai [$e timing_arc_iterator]
      while {[$ai has_next]} { set a [$ai next]; set to [$a to_trans_name]
        foreach mm {min max} { set x [$e arc_delay $a $corner $mm]; set k "$to,$mm"
          if {[dict get $d $k] eq "nan" || ($mm eq "max" && $x > [dict get $d $k]) || ($mm eq "min" && $x < [dict get $d $k])} { dict set d $k $x } } }
      $ai finish
      dict set merged $key $d
    }
    $it finish
    set to_name [get_full_name $pin]
    dict for {key d} $merged {
      set parts [split $key " "]
      puts $out "E [lindex $parts 0] $to_name [lindex $parts 1] [dict get $d rise,min] [dict get $d fall,min] [dict get $d rise,max] [dict get $d fall,max]"
    }
    puts $out "P [get_full_name $pin] [lindex $arr 0] [lindex $arr 2] [lindex $arr 1] [lindex $arr 3] [lindex $sr 0] [lindex $sf 0] [lindex $sr 1] [lindex $sf 1] [lindex $kr 0] [lindex $kf 0] [lindex $kr 1] [lindex $kf 1] $ep"
  }
}
close $out
