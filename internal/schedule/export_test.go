package schedule

// TicksConsidered counts how often River's leader asked whether to enqueue the tick.
func (s *Scheduler) TicksConsidered() int64 {
	s.gate.mu.Lock()
	defer s.gate.mu.Unlock()
	return s.gate.considered
}
