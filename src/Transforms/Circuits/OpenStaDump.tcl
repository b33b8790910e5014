# Dumps per-pin arrival/slew/slack (min rise, min fall, max rise, max fall; seconds) and per-edge delays of the
# timed design. Loaded by OpenStaRunner after read_liberty/read_verilog/link_design/read_sdc/read_spef.
# Lines: "P pin arr4 slew4 slack4 has_check" and "E from to role delay4"; "nan" where OpenSTA has no value.
proc worst {vals fn} { set r ""; foreach x $vals { if {abs($x) < 1e29} { if {$r eq "" || [$fn $x $r]} { set r $x } } }; if {$r eq ""} { return nan }; return $r }
proc gt {a b} { expr {$a > $b} }
proc lt {a b} { expr {$a < $b} }
set out [open $::mlnetext_dump_path w]
set corner [sta::cmd_corner]
set clocks [concat [all_clocks] NULL]
set pins {}
foreach port [get_ports *] { lappend pins [sta::find_pin [get_full_name $port]] }
set pins [concat $pins [get_pins -hierarchical *]]
foreach pin $pins {
  foreach v [sta::Pin_vertices $pin] {
    # Worst arrival over the vertex's tags. Where clock tags exist (the clock network) only they count: a gated
    # clock pin also carries data tags (e.g. launched by the opposite clock edge through a clock gate's latch) that
    # STA never uses to launch from that pin, and would make its label disagree with the flop outputs it drives.
    set arr {}
    foreach tr {rise fall} {
      foreach mm {min max} {
        set all {}; set clk {}
        set it [$v path_iterator $tr $mm]
        while {[$it has_next]} { set p [$it next]; set a [$p arrival]
          lappend all $a
          if {[string first "(clock" [$p tag]] >= 0} { lappend clk $a } }
        $it finish
        if {[llength $clk] > 0} { set all $clk }
        # A clock's source port has no paths to iterate, only the clock edges' arrivals (fall at half the period).
        if {[llength $all] == 0} {
          foreach c $clocks { foreach ctr {rise fall} { lappend all [lindex [$v arrivals_clk $tr $c $ctr] [expr {$mm eq "min" ? 0 : 1}]] } }
        }
        lappend arr [worst $all [expr {$mm eq "min" ? "lt" : "gt"}]]
      }
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
