/* Forwarding header while agent/daemon.c still includes "engine.h": the engine
 * is in agent/engine/. Removed once every includer says "engine/engine.h". */
#include "engine/engine.h"
